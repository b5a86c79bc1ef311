"""`make demo`'s stand-in side: the Meet line under the landed event and `make demo MAILS=guest`."""

import pytest

from local.demo import conference_line, show_mails
from tests.integration.standin_client import client, event, standin  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
GUEST = "cliente@cliente-x.com.br"


def test_mails_of_a_demo_guest(standin, client, capsys):  # noqa: F811
    env = {"STANDIN_URL": standin.url}
    assert show_mails(env, GUEST) == 0
    assert "got no mail" in capsys.readouterr().out
    body = event(summary="Diagnóstico — Cliente X", attendees=[{"email": GUEST}],
                 conferenceData={"createRequest": {"requestId": "demo-1"}})
    created = client.insert(body, sendUpdates="all", conferenceDataVersion=1)
    client.update({**created, "summary": "Diagnóstico (remarcado)"}, sendUpdates="all", conferenceDataVersion=1)
    assert show_mails(env, GUEST.upper()) == 0
    out = capsys.readouterr().out.splitlines()
    assert "invitation" in out[0] and "'Diagnóstico — Cliente X'" in out[0] and created["hangoutLink"] in out[0]
    assert "update" in out[1] and "remarcado" in out[1] and "events.update, sendUpdates=all" in out[1]
    assert out[2] == f"{GUEST.upper()}: 1 invitation, 1 update"
    assert conference_line(created) == (f"Google Meet: {created['hangoutLink']}  "
                                        f"(conference {created['conferenceData']['conferenceId']}, success)")


def test_conference_line_when_there_is_no_link(standin, client):  # noqa: F811
    assert conference_line(client.insert(event())) == "conference: none"
    standin.state.configure_conferences(creation="pending", after_reads=None)
    pending = client.insert(event(conferenceData={"createRequest": {"requestId": "p"}}), conferenceDataVersion=1)
    assert conference_line(pending) == "Google Meet: pending (no link yet)"
    standin.state.settle_conferences(outcome="failure")
    assert conference_line(client.get(pending["id"])) == "Google Meet: failure"
