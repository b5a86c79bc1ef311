"""Firestore record of each browser's connect flow: what its session cookie may do, server side.

    flow_sessions/{sha256(session id)}    TTL on expires_at

``started`` (written at /connect) → ``authorized`` (at the OAuth callback of that same
browser session, holding the grant it obtained) → ``used`` (once its calendar choice is
saved). ``/calendars`` works only on an ``authorized`` record and reads the grant from it,
never from the connection; the step to ``used`` is a transaction, so of two requests with the
same cookie only one saves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore

from sync.adapters.firestore.base import WRITE_RETRY
from sync.kernel.ports import FlowGrant

FLOW_SESSIONS = "flow_sessions"
STARTED, AUTHORIZED, USED = "started", "authorized", "used"


class FirestoreFlowSessions:
    def __init__(self, db: firestore.Client) -> None:
        self.db = db

    def _ref(self, sid_hash: str) -> firestore.DocumentReference:
        return self.db.collection(FLOW_SESSIONS).document(sid_hash)

    def start(self, sid_hash: str, account_id: str, user_id: str, expires_at: datetime) -> None:
        self._ref(sid_hash).set({"account_id": account_id, "user_id": user_id, "state": STARTED,
                                 "expires_at": expires_at, "created_at": firestore.SERVER_TIMESTAMP},
                                retry=WRITE_RETRY)

    def authorize(self, sid_hash: str, account_id: str, user_id: str, token_ref: str, google_email: str) -> bool:
        """started → authorized, keeping the grant; False if the record is not a started flow of this user."""
        return self._step(sid_hash, account_id, user_id, STARTED, {
            "state": AUTHORIZED, "token_ref": token_ref, "google_email": google_email,
            "authorized_at": firestore.SERVER_TIMESTAMP}) is not None

    def grant(self, sid_hash: str, account_id: str, user_id: str) -> FlowGrant | None:
        """The grant of an authorized, unexpired flow of this user; None otherwise."""
        snap = self._ref(sid_hash).get()
        doc = snap.to_dict() if snap.exists else None
        return _grant(doc) if _valid(doc, account_id, user_id, AUTHORIZED) else None

    def use(self, sid_hash: str, account_id: str, user_id: str) -> FlowGrant | None:
        """authorized → used, atomically: of concurrent callers one gets the grant, the others None."""
        doc = self._step(sid_hash, account_id, user_id, AUTHORIZED,
                         {"state": USED, "used_at": firestore.SERVER_TIMESTAMP})
        return _grant(doc) if doc is not None else None

    def release(self, sid_hash: str) -> None:
        """used → authorized again: saving the choice failed after ``use`` (the user may retry)."""
        self._ref(sid_hash).update({"state": AUTHORIZED}, retry=WRITE_RETRY)

    def _step(self, sid_hash: str, account_id: str, user_id: str, expected: str,
              fields: dict[str, Any]) -> dict[str, Any] | None:
        ref = self._ref(sid_hash)

        @firestore.transactional
        def step(txn: firestore.Transaction) -> dict[str, Any] | None:
            snap = next(iter(txn.get_all([ref])), None)
            doc = snap.to_dict() if snap is not None and snap.exists else None
            if not _valid(doc, account_id, user_id, expected):
                return None
            txn.update(ref, fields)
            return doc

        return step(self.db.transaction())


def _valid(doc: dict[str, Any] | None, account_id: str, user_id: str, state: str) -> bool:
    if not doc or doc.get("state") != state:
        return False
    if (doc.get("account_id"), doc.get("user_id")) != (account_id, user_id):
        return False
    expires_at = doc.get("expires_at")
    return isinstance(expires_at, datetime) and expires_at > datetime.now(UTC)


def _grant(doc: dict[str, Any] | None) -> FlowGrant | None:
    if not doc or not doc.get("token_ref"):
        return None
    return FlowGrant(str(doc["token_ref"]), str(doc.get("google_email") or ""))
