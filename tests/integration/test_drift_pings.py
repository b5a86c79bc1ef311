"""Ping message numbers on the Firestore emulator (docs/drift.md#how-it-notices): a number not above the highest
seen for its channel is a replay, and of concurrent deliveries of one number only one passes."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from google.cloud import firestore

from sync.adapters.firestore.drift import FirestoreDriftStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(emulator_hosts):
    return FirestoreDriftStore(firestore.Client(project="local-project"))


def test_each_message_number_passes_once_and_older_ones_never(store):
    channel_id = uuid.uuid4().hex
    store.channel_ref(channel_id).set({"account_id": "a", "user_id": "u", "token_sha256": "x"})
    with ThreadPoolExecutor(8) as pool:
        passed = list(pool.map(lambda _: store.accept_message(channel_id, 7), range(16)))
    assert passed.count(True) == 1
    assert not store.accept_message(channel_id, 7) and not store.accept_message(channel_id, 3)
    assert store.accept_message(channel_id, 8)
    assert not store.accept_message(uuid.uuid4().hex, 1)  # no such channel (stopped, forgotten)
