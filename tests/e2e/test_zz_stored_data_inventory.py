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

    One kindless query over all descendants of the database's root (a collection selector with no
    collection id) streams every document at every depth, even one under a parent document that
    does not exist; each document's name says which collection holds it, and which hold that. Asking each document
    for its subcollections instead takes one call per document: thousands after the e2e suite,
    minutes on the emulator."""
    from google.cloud.firestore_v1.types import RunQueryRequest, StructuredQuery

    seen: dict[str, set[str]] = defaultdict(set)
    query = StructuredQuery(from_=[StructuredQuery.CollectionSelector(all_descendants=True)])
    request = RunQueryRequest(parent=f"{db._database_string}/documents", structured_query=query)
    for response in db._firestore_api.run_query(request=request, metadata=db._rpc_metadata):
        if response.document:
            path = response.document.name.split("/documents/", 1)[1].split("/")  # coll/doc/coll/doc…
            for collection_id in path[:-2:2]:  # the collections above it, met even where no document is
                seen.setdefault(collection_id, set())
            seen[path[-2]].update(response.document.fields.keys())
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
