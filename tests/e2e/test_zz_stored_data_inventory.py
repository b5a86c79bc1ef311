"""What the service really stores is what /privacy says it stores.

Drives one person through every path that keeps something (connect, an unfinished connect, a
webhook, a snapshot, a calendar switch, a revoked grant that parks a change, the maintenance
tick), then walks every document of the emulator's database, subcollections included, and what
the earlier end-to-end tests left there too (this module runs last, by name). A collection or a
top-level field that sync/web/stored_data.py does not list fails: the page would be
hiding it. A listed collection the walk never meets fails too, so the journey keeps covering the
whole inventory (the three that never outlive their work are checked in tests/unit/test_privacy.py).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from local.stack import PROJECT
from sync.config import Settings
from sync.web.stored_data import FIRESTORE, inventory
from tests.e2e.conftest import Browser, api_token
from tests.e2e.snapshots_client import SnapshotApi, events
from tests.helpers import payload, version, wait_for

# Never outlive the work that writes them: published then deleted; cleared when the check starts;
# deleted when the disconnect finishes (its fields are held to the page by tests/unit/test_privacy.py).
TRANSIENT = {"notification_outbox", "drift_pending", "disconnects"}


def walk(db: Any) -> dict[str, set[str]]:
    """collection id → every top-level field seen on its documents, over the whole database.

    Level by level: every collection of a level is read, then every one of its documents is asked
    for its subcollections (one call per document, so thousands after the e2e suite: made 16 at a
    time), which make the next level."""
    from concurrent.futures import ThreadPoolExecutor

    seen: dict[str, set[str]] = defaultdict(set)

    def read(collection: Any) -> tuple[str, list[Any]]:
        snaps = list(collection.stream())
        return collection.id, snaps

    with ThreadPoolExecutor(16) as pool:
        level = list(db.collections())
        while level:
            documents = []
            for collection_id, snaps in pool.map(read, level):
                seen.setdefault(collection_id, set())
                for snap in snaps:
                    seen[collection_id].update((snap.to_dict() or {}).keys())
                    documents.append(snap.reference)
            level = [sub for subs in pool.map(lambda ref: list(ref.collections()), documents) for sub in subs]
    return seen


def journey(stack: Any, platform: Any, user: dict[str, str]) -> None:
    ids = {"account_id": user["account_id"], "user_id": user["user_id"]}
    browser = Browser(stack)
    assert browser.connect(user).status_code == 302
    platform.wait_outcome(platform.accepted(payload(**ids, title="Inventário")), "created")

    api = SnapshotApi(stack.url("integrations"), stack.env, user)
    snapshot_id, completed = api.send(events(2, prefix="inv"), as_of=version(100))
    assert completed.status_code == 202, completed.text
    api.wait_done(snapshot_id)

    assert browser.connect(user, calendar_id=user["team"]).status_code == 302  # a switch: the events move

    def moved() -> bool:
        import requests

        status = requests.get(f"{stack.url('integrations')}api/connections/{user['account_id']}/{user['user_id']}",
                              headers={"Authorization": "Bearer " + api_token(stack, **ids)}, timeout=30).json()
        return bool(status.get("moving")) and status["moving"]["state"] == "done"

    wait_for(moved, timeout=60, what="the calendar move")

    stack.standin.state.revoke_user(user["email"])  # the grant stops working: the next change is parked
    platform.wait_outcome(platform.accepted(payload("event.updated", **ids, updated=200, title="Parada")),
                          "parked_needs_reauth")

    started = Browser(stack).start(user["account_id"], user["user_id"])  # a connect left half-way
    assert started.status_code == 302

    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher = pubsub_v1.PublisherClient()
    publisher.publish(publisher.topic_path(PROJECT, f"{stack.topic}-bulk"),
                      json.dumps({"schema": 1, "kind": "maintenance"}).encode()).result(timeout=30)


def test_everything_stored_is_on_the_data_use_policy(stack, platform, google_user):
    from google.cloud import firestore

    journey(stack, platform, google_user)
    db = firestore.Client(project=PROJECT)
    wait_for(lambda: db.collection("drift_meta").document("sweep").get().exists, timeout=60,
             what="the maintenance tick's sweep record")
    seen = walk(db)

    settings = Settings.from_env(stack.env)
    listed: dict[str, set[str]] = defaultdict(set)
    for item in inventory(settings):
        if item.where == FIRESTORE:
            for collection in item.collections:
                listed[collection] |= item.fields
    unlisted = sorted(set(seen) - set(listed))
    assert not unlisted, f"collections stored but not on /privacy: {unlisted}"
    for collection, fields in seen.items():
        extra = sorted(fields - listed[collection])
        assert not extra, f"{collection}: fields stored but not on /privacy: {extra}"
    never_met = sorted(set(listed) - set(seen) - TRANSIENT)
    assert not never_met, f"the journey no longer stores anything in {never_met}: extend it"
    # The contents the page says are kept for parking and drift repair are really there.
    assert "parked" in seen["events"] and "applied" in seen["events"] and "event" in seen["snapshot_events"]
