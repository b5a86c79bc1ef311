"""Connections on the fakes (sync/connections/): activating (the one use case behind the connect
flow and import-connection), the browser flow's steps, the status route's view, and the
disconnect from its transition to the revoke, within the request or on the bulk lane."""

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sync.apply.service import SyncService
from sync.connections.activate import Activation
from sync.connections.disconnect import Disconnect
from sync.connections.flow import Browser, ConnectFlow, FlowRefused
from sync.connections.removal import INLINE_EVENTS, Removal
from sync.connections.status import StatusReport
from sync.kernel.errors import AuthRevoked, DisconnectInProgress, OAuthRefused, Retryable
from sync.kernel.model import SCOPES, Connection, ConnectionStatus, Lease
from sync.kernel.payload import parse_change
from sync.moves.service import Moves
from tests.fakes import (
    FakeCalendar,
    FakeConnections,
    FakeDisconnectStore,
    FakeDriftStore,
    FakeFlowSessions,
    FakeMoveStore,
    FakeOAuth,
    FakeOAuthStates,
    FakePublisher,
    FakeSecrets,
    FakeSnapshotStore,
    FakeStore,
    FakeVault,
    FakeWatches,
)
from tests.helpers import payload

A, U, CAL, OTHER = "acme-consulting", "u-42", "ana@example.com", "team@example.com"


class World:
    def __init__(self):
        self.mappings, self.calendar = FakeStore(), FakeCalendar()
        self.live, self.bulk = FakePublisher(), FakePublisher()
        self.connections, self.vault, self.oauth, self.watches = (FakeConnections(self.mappings), FakeVault(),
                                                                  FakeOAuth(), FakeWatches())
        self.service = SyncService(self.mappings, self.calendar)
        self.moves = Moves(FakeMoveStore(self.mappings), self.bulk, self.service)
        self.activation = Activation(self.connections, self.mappings, self.vault, self.live, self.watches,
                                     self.moves, self.oauth)
        self.drift = FakeDriftStore()
        self.snapshots = FakeSnapshotStore(self.mappings)
        self.disconnects = FakeDisconnectStore(self.connections, self.drift, self.snapshots, self.moves.store)
        self.removal = Removal(self.disconnects, self.calendar, self.vault, self.oauth, self.watches,
                               sleep=lambda s: None, sweep_grace=0)
        self.disconnect = Disconnect(self.disconnects, self.connections, self.calendar, self.removal, self.bulk)

    def connect(self, calendar=CAL, email=CAL, token="1//refresh"):
        self.calendar.calendar_list[calendar] = {"id": calendar, "accessRole": "owner"}
        return self.activation.import_grant(A, U, calendar, token, google_email=email)

    def change(self, event_id, kind="event.created", updated=0):
        return self.service.apply(parse_change(payload(kind, account_id=A, user_id=U, event_id=event_id,
                                                       updated=updated), f"wh-{event_id}-{updated}"))

    def status(self):
        return StatusReport(self.connections, {"snapshot": lambda a, u: None, "moving": self.moves.status},
                            self.disconnect.removing).status(A, U)

    def jobs(self):
        out = [json.loads(d) for d, _, _ in self.bulk.messages]
        self.bulk.messages.clear()
        return out


# -- activation -----------------------------------------------------------------------------------------
def test_importing_a_grant_activates_watches_and_keeps_one_token_version():
    world = World()
    assert world.connect(token="1//first")["status"] == "active"
    first = world.mappings.connections[(A, U)].token_ref
    world.connect(token="1//second")  # the same account again
    conn = world.mappings.connections[(A, U)]
    assert conn.status is ConnectionStatus.ACTIVE and conn.calendar_id == CAL and conn.token_ref != first
    assert list(world.vault.tokens.values()) == ["1//second"] and world.vault.destroyed == [first]
    assert world.watches.calls == [("activated", A, U)] * 2 and world.oauth.revoked == []
    assert [n.type for n in world.connections.notifications] == ["connection.activated"] * 2


def test_a_grant_of_another_google_account_revokes_the_one_it_replaces():
    world = World()
    world.connect(email="old@example.com", token="1//old")
    world.connect(email=CAL, token="1//new")
    assert world.oauth.revoked == ["1//old"]
    world.connect(email=None, token="1//unknown")  # an address not known: never revoke (it may be the same)
    assert world.oauth.revoked == ["1//old"]


def test_a_calendar_switch_moves_the_synced_events_through_the_queue():
    world = World()
    world.connect()
    world.change("ev-1")
    world.change("ev-2")
    assert world.activation.activate(A, U, OTHER, world.mappings.connections[(A, U)].token_ref, CAL) == 2
    [job] = world.jobs()
    assert job["kind"] == "calendar_move" and job["event_ids"] == ["ev-1", "ev-2"] and job["destination"] == OTHER
    assert world.activation.activate(A, U, OTHER, world.mappings.connections[(A, U)].token_ref, CAL) == 0


def test_changes_parked_while_the_grant_was_revoked_are_sent_again_on_reconnect():
    world = World()
    world.connect()
    world.calendar.revoked = True
    assert world.change("ev-1").name == "parked_needs_reauth"
    world.calendar.revoked = False
    result = world.connect(token="1//again")
    assert result["resumed_parked_changes"] == 1
    [(data, key, attributes)] = world.live.messages
    assert json.loads(data)["event"]["id"] == "ev-1" and attributes["replay"] == "parked"


def reconnect_during_the_next_session(world, token="1//again", calendar=CAL):
    """The next Calendar session a writer opens meets the revoked grant, but only after the user
    reconnected (activation and its resume of parked changes run first): the interleaving that
    left parked changes behind, ordered here explicitly."""
    opened = world.calendar.session

    def session(connection):
        world.calendar.session = opened
        world.connect(token=token, calendar=calendar)
        raise AuthRevoked("invalid_grant")

    world.calendar.session = session


def test_a_change_meeting_the_old_grant_after_a_reconnect_is_written_with_the_new_one_not_parked():
    world = World()
    world.connect(token="1//old")
    world.change("ev-1", updated=1)
    reconnect_during_the_next_session(world)
    with pytest.raises(Retryable):  # back to the queue: the redelivery writes it with the new grant
        world.change("ev-1", kind="event.updated", updated=2)
    conn = world.mappings.connections[(A, U)]
    assert conn.status is ConnectionStatus.ACTIVE  # the new grant's connection is not flipped back
    assert world.mappings.parked(A, U) == [] and world.mappings.mappings[(A, U, "ev-1")].lease is None
    assert [n.type for n in world.mappings.notifications] == []  # no needs_reauth for a grant not in use
    assert world.change("ev-1", kind="event.updated", updated=2).name == "updated"


def test_a_move_meeting_the_old_grant_after_a_reconnect_leaves_the_connection_active():
    world = World()
    world.connect(token="1//old")
    world.change("ev-1")
    world.activation.activate(A, U, OTHER, world.mappings.connections[(A, U)].token_ref, CAL)
    [job] = world.jobs()
    reconnect_during_the_next_session(world, calendar=OTHER)
    outcome = world.moves.run(job)
    assert (outcome.name, outcome.acknowledge) == ("move_busy", False)  # the chunk comes back
    assert world.mappings.connections[(A, U)].status is ConnectionStatus.ACTIVE
    assert world.moves.run(job).name == "moved"
    assert world.calendar.live(OTHER) and not world.calendar.live(CAL)


def test_an_empty_token_is_refused_and_nothing_changes():
    world = World()
    with pytest.raises(ValueError):
        world.activation.import_grant(A, U, CAL, "  \n")
    assert world.mappings.connections == {} and world.vault.tokens == {}


# -- the browser flow ---------------------------------------------------------------------------------
def flow_world():
    world = World()
    world.calendar.calendar_list["primary"] = {"id": CAL, "accessRole": "owner", "primary": True}
    world.calendar.calendar_list[CAL] = {"id": CAL, "accessRole": "owner", "primary": True}
    world.calendar.calendar_list["holidays"] = {"id": "holidays", "accessRole": "reader"}
    flow = ConnectFlow("https://sync.example.com", "https://accounts.example/auth", FakeSecrets(), FakeOAuthStates(),
                       FakeFlowSessions(), world.connections, world.vault, world.calendar, world.oauth,
                       world.activation)
    return world, flow, Browser("sid-1", A, U)


def started(flow, browser):
    from urllib.parse import parse_qs, urlsplit

    url = flow.begin(browser, datetime.now(UTC) + timedelta(minutes=30))
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["scope"] == [" ".join(SCOPES)]
    assert query["redirect_uri"] == ["https://sync.example.com/oauth/callback"]
    return query["state"][0]


def test_the_flow_from_link_to_an_active_connection():
    world, flow, browser = flow_world()
    state = started(flow, browser)
    world.oauth.answers.append({"refresh_token": "1//granted", "access_token": "ya29", "scope": " ".join(SCOPES)})
    flow.authorize(browser, state, "", "code-1")
    assert world.connections.pending[(A, U)][1] == CAL  # the grant waits for its calendar
    email, items, selected, limited = flow.calendars_to_choose(browser)
    assert email == CAL and selected is None and limited is None
    flow.choose(browser, CAL)
    conn = world.mappings.connections[(A, U)]
    assert conn.status is ConnectionStatus.ACTIVE and world.vault.read_refresh_token(conn.token_ref) == "1//granted"
    with pytest.raises(FlowRefused) as refused:  # single use: the session already saved its choice
        flow.choose(browser, CAL)
    assert (refused.value.status, refused.value.page) == (401, "session")


def test_a_reconnect_while_usage_limited_shows_when_the_calendar_is_tried_again():
    world, flow, browser = flow_world()
    retry_at = datetime(2026, 11, 20, 13, 15, tzinfo=UTC)
    world.mappings.save_connection(Connection(A, U, ConnectionStatus.USAGE_LIMITED, CAL, "local_tokens/x", CAL,
                                              activation="a0", retry_at=retry_at))
    state = started(flow, browser)
    world.oauth.answers.append({"refresh_token": "1//granted", "access_token": "ya29", "scope": " ".join(SCOPES)})
    flow.authorize(browser, state, "", "code-1")
    assert flow.calendars_to_choose(browser)[2:] == (CAL, retry_at)
    flow.choose(browser, CAL)  # a reconnect makes it active at once (and resumes what was parked)
    assert world.mappings.connections[(A, U)].status is ConnectionStatus.ACTIVE
    assert world.mappings.connections[(A, U)].retry_at is None


@pytest.mark.parametrize("case,page", [("replayed", "state"), ("other session", "state"), ("denied", "denied"),
                                       ("refused", "state"), ("one scope", "scopes"), ("no refresh", "no_refresh")])
def test_a_callback_that_does_not_complete_this_sessions_flow_is_refused(case, page):
    world, flow, browser = flow_world()
    state = started(flow, browser)
    answer = {"refresh_token": "1//x", "scope": " ".join(SCOPES)}
    if case == "replayed":
        world.oauth.answers.append(answer)
        flow.authorize(browser, state, "", "c")
    world.oauth.answers.append({"refused": OAuthRefused("invalid_grant"), "one scope": {**answer, "scope": SCOPES[0]},
                                "no refresh": {"scope": " ".join(SCOPES)}}.get(case, answer))
    who = Browser("sid-2", A, U) if case == "other session" else browser
    with pytest.raises(FlowRefused) as refused:
        flow.authorize(who, state, "access_denied" if case == "denied" else "", "c")
    assert refused.value.page == page and refused.value.status == 400


def test_only_a_writable_calendar_can_be_chosen_and_a_failed_save_can_be_tried_again():
    world, flow, browser = flow_world()
    state = started(flow, browser)
    world.oauth.answers.append({"refresh_token": "1//x"})
    flow.authorize(browser, state, "", "c")
    with pytest.raises(FlowRefused) as refused:
        flow.choose(browser, "holidays")
    assert refused.value.page == "calendar"
    world.mappings.save_connection(Connection(A, U, ConnectionStatus.DISCONNECTING))  # a disconnect under way
    with pytest.raises(DisconnectInProgress):
        flow.choose(browser, CAL)
    world.mappings.save_connection(Connection(A, U, ConnectionStatus.DISCONNECTED))
    flow.choose(browser, CAL)  # the session was released: the user may retry
    assert world.mappings.connections[(A, U)].status is ConnectionStatus.ACTIVE


def test_a_session_that_only_visited_connect_has_no_grant():
    world, flow, browser = flow_world()
    started(flow, browser)
    with pytest.raises(FlowRefused) as refused:
        flow.calendars_to_choose(browser)
    assert refused.value.status == 401


# -- the status route ---------------------------------------------------------------------------------
def test_the_status_says_what_the_connection_is_and_what_its_sections_add():
    world = World()
    assert world.status()["status"] == "disconnected" and world.status()["moving"] is None
    world.connect()
    world.change("ev-1")
    status = world.status()
    assert (status["status"], status["calendar_id"], status["counts"]["synced"]) == ("active", CAL, 1)
    world.mappings.save_connection(replace(world.mappings.connections[(A, U)], status=ConnectionStatus.NEEDS_REAUTH))
    assert world.status()["last_error"]["reason"] == "google_grant_revoked"


# -- the disconnect -----------------------------------------------------------------------------------
def test_a_disconnect_without_removal_forgets_everything_and_revokes_the_grant():
    world = World()
    world.connect(token="1//mine")
    world.change("ev-1")
    world.drift.enroll(A, U, datetime.now(UTC))
    done = world.disconnect.request(A, U, remove_events=False)
    assert done.kind == "done" and done.record["removed"] == 0
    assert world.mappings.connections[(A, U)].status is ConnectionStatus.DISCONNECTED
    assert world.mappings.mappings == {} and world.drift.docs == {}
    assert world.oauth.revoked == ["1//mine"] and world.vault.tokens == {}
    assert len(world.calendar.live(CAL)) == 1  # the events stay
    [note] = world.disconnects.notifications
    assert note.type == "connection.disconnected" and note.data["events_removed"] == 0
    assert world.status()["status"] == "disconnected"
    assert world.disconnect.request(A, U, remove_events=True).kind == "done"  # again: nothing to do


def test_removing_a_few_events_happens_within_the_request_and_mails_nobody():
    world = World()
    world.connect()
    for i in range(3):
        world.change(f"ev-{i}")
    world.calendar.calls.clear()
    done = world.disconnect.request(A, U, remove_events=True)
    assert done.kind == "done" and done.record["removed"] == 3
    assert world.calendar.live(CAL) == {} and [(m, su) for m, _, su in world.calendar.sent
                                                 if m == "delete"] == [("delete", "none")] * 3
    assert world.disconnects.notifications[0].data["events_removed"] == 3


def test_removing_many_events_goes_on_as_a_job_chain_on_the_bulk_lane():
    world = World()
    world.connect()
    for i in range(INLINE_EVENTS + 5):
        world.change(f"ev-{i}")
    running = world.disconnect.request(A, U, remove_events=True)
    assert running.kind == "running" and running.removing["state"] == "removing"
    assert running.removing["total"] == INLINE_EVENTS + 5
    assert world.status()["status"] == "disconnected" and world.status()["removing"]["total"] == INLINE_EVENTS + 5
    [job] = world.jobs()
    assert (job["kind"], job["seq"]) == ("disconnect", 0)
    assert world.disconnect.job(job).name == "disconnected"
    assert world.disconnect.job(job).name == "disconnect_finished"  # redelivered after the end
    assert world.calendar.live(CAL) == {} and world.mappings.mappings == {}
    assert world.disconnects.notifications[0].data["events_removed"] == INLINE_EVENTS + 5


def test_a_write_in_flight_is_removed_once_its_lease_ends():
    world = World()
    world.connect()
    world.change("ev-1")
    key = (A, U, "ev-1")
    m = world.mappings.mappings[key]
    until = datetime.now(UTC) + timedelta(seconds=0.5)
    world.mappings.mappings[key] = replace(m, lease=Lease("writer", m.version, until))
    waited = []

    def sleep(seconds):
        waited.append(seconds)
        time.sleep(seconds)

    world.removal.sleep = sleep
    world.removal.clock = lambda: 0.0  # the step never runs out of time
    world.disconnect.request(A, U, remove_events=True)
    assert waited and 0 < waited[0] <= 0.8  # it waited for the writer's lease before deleting
    assert world.calendar.live(CAL) == {}


def test_a_removal_is_refused_when_google_access_is_gone_and_nothing_changes():
    world = World()
    world.connect()
    world.change("ev-1")
    world.calendar.revoked = True
    assert world.disconnect.request(A, U, remove_events=True).kind == "refused"
    assert world.mappings.connections[(A, U)].status is ConnectionStatus.ACTIVE and world.disconnects.records == {}


def test_a_removal_is_refused_while_usage_limited_and_a_plain_disconnect_is_not():
    world = World()
    world.connect()
    world.change("ev-1")
    world.calendar.usage_limited = True
    assert world.change("ev-2").name == "parked_usage_limited"
    refused = world.disconnect.request(A, U, remove_events=True)
    assert refused.kind == "refused" and "usage limits" in refused.record["detail"]
    assert world.mappings.connections[(A, U)].status is ConnectionStatus.USAGE_LIMITED
    assert world.disconnects.records == {}
    assert world.disconnect.request(A, U, remove_events=False).kind == "done"
    assert world.status()["status"] == "disconnected" and world.status()["retry_at"] is None


def test_a_removal_meeting_the_usage_limits_waits_for_the_maintenance_task_not_the_queue():
    world = World()
    world.connect()
    for i in range(INLINE_EVENTS + 3):
        world.change(f"ev-{i}")
    world.calendar.usage_limited = True  # Google starts refusing the deletes once the removal is under way
    world.disconnect.request(A, U, remove_events=True)
    outcomes = []
    for _ in range(5):  # the chain goes on (forgetting first) until a delete meets the limit
        [job] = world.jobs()
        outcomes.append(world.disconnect.job(job))
        if outcomes[-1].name != "disconnect_continued":
            break
    assert (outcomes[-1].name, outcomes[-1].acknowledge) == ("disconnect_usage_limited", True)  # no dead letter
    assert world.jobs() == [] and world.status()["removing"]["state"] == "removing"
    world.calendar.usage_limited = False
    world.disconnects.records[(A, U)]["updated_at"] -= timedelta(hours=1)  # no progress since
    assert world.disconnect.resume_stalled() == {"disconnects_resumed": 1}
    [again] = world.jobs()
    assert world.disconnect.job(again).name == "disconnected" and world.calendar.live(CAL) == {}


def test_a_stalled_chain_is_resumed_and_a_duplicate_job_does_nothing():
    world = World()
    world.connect()
    for i in range(INLINE_EVENTS + 1):
        world.change(f"ev-{i}")
    world.disconnect.request(A, U, remove_events=True)
    [job] = world.jobs()
    record = world.disconnects.records[(A, U)]
    record["updated_at"] -= timedelta(hours=1)  # its job was lost
    assert world.disconnect.resume_stalled() == {"disconnects_resumed": 1}
    [again] = world.jobs()
    assert again["seq"] == job["seq"] == 0
    assert world.disconnect.job({**job, "seq": 7}).name == "disconnect_duplicate"
    assert world.disconnect.job(again).name == "disconnected"


def test_the_forgotten_channel_is_stopped_with_the_grant_before_the_revoke():
    world = World()
    world.connect(token="1//mine")
    from sync.kernel.ports import ChannelRecord

    world.drift.set_channel(A, U, ChannelRecord("ch-1", "res", CAL, datetime.now(UTC) + timedelta(days=1)), "sha",
                            datetime.now(UTC))
    ref = world.mappings.connections[(A, U)].token_ref
    world.disconnect.request(A, U, remove_events=False)
    assert ("stop", A, U, ref, "ch-1") in world.watches.calls and world.drift.channel("ch-1") is None
    assert world.drift.current_channel(A, U) is None
