"""Jobs on the worker: messages with a ``kind`` go to their handler, not to the change path."""

import base64
import json

import pytest
from functions_framework import create_app

from sync import bootstrap
from sync.kernel.errors import Retryable
from sync.kernel.jobs import Jobs, Maintenance
from sync.kernel.outcome import Outcome


@pytest.fixture
def worker(monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "unit-project")
    monkeypatch.setenv("SECRETS_BACKEND", "env")
    bootstrap.reset()
    yield create_app("sync_worker", "main.py").test_client()
    bootstrap.reset()


def push(client, data):
    envelope = {"message": {"data": base64.b64encode(json.dumps(data).encode()).decode(), "messageId": "m-1"},
                "subscription": "projects/p/subscriptions/calendar-sync-bulk-worker"}
    return client.post("/", json=envelope)


def echo(data):
    return Outcome("echoed", fields={"count": len(data)})


def busy(data):
    raise Retryable("busy", retry_after=7)


def test_a_job_runs_its_handler_and_is_acknowledged(worker):
    bootstrap.container().override(jobs=Jobs({"echo": lambda: echo}))
    r = push(worker, {"schema": 1, "kind": "echo", "x": 1})
    assert r.status_code == 200 and r.get_json() == {"outcome": "echoed"}


def test_an_unknown_job_is_refused_so_it_dead_letters(worker):
    r = push(worker, {"schema": 1, "kind": "no-such-job"})
    assert r.status_code == 400 and r.get_json() == {"outcome": "unknown_job"}


def test_a_retryable_job_is_handed_back_with_its_wait(worker):
    bootstrap.container().override(jobs=Jobs({"busy": lambda: busy}))
    r = push(worker, {"schema": 1, "kind": "busy"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "7"


def test_a_change_without_webhook_id_is_still_a_bad_envelope(worker):
    r = push(worker, {"schema": 1, "type": "event.updated"})
    assert r.status_code == 400 and r.get_json() == {"outcome": "bad_envelope"}


calls: list[str] = []


def task_ok():
    calls.append("ok")
    return {"renewed": 2}


def task_retry():
    calls.append("retry")
    raise Retryable("firestore: contention")


def test_maintenance_runs_every_task_even_when_one_fails():
    calls.clear()
    maintenance = Maintenance([("retry", lambda: task_retry), ("ok", lambda: task_ok)])
    outcome = maintenance.run({"schema": 1, "kind": "maintenance"})
    assert calls == ["retry", "ok"]
    assert not outcome.acknowledge and outcome.fields == {"renewed": 2}
    assert Maintenance([("ok", lambda: task_ok)]).run({"schema": 1, "kind": "maintenance"}).acknowledge


def test_every_kind_the_service_publishes_has_a_handler_and_each_is_built_once(monkeypatch):
    """The container's registry knows each job the code publishes; a handler is made on first use."""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "unit-project")
    bootstrap.reset()
    registry = bootstrap.container().jobs
    assert set(registry.factories) == {"maintenance", "drift_check", "snapshot_page", "snapshot_deletes",
                                       "snapshot_change", "calendar_move", "disconnect", "conference_check"}
    made = []
    registry = Jobs({"echo": lambda: made.append(1) or echo})
    registry.run({"kind": "echo"})
    registry.run({"kind": "echo"})
    assert made == [1]
    bootstrap.reset()
