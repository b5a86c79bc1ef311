"""Firestore for the integrations flow: OAuth state, pending grants, status (a disconnect: sync/disconnect).

Layout (beside the worker's)::

    oauth_states/{sha256(state)}           one per started connect flow; TTL on expires_at
    connections/{account:user}             + pending_token_ref / pending_google_email
    connections/{account:user}/events/…    the worker's mappings
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.cloud import firestore

from sync.adapters.firestore_store import EVENTS, WRITE_RETRY, FirestoreStore
from sync.kernel import notification as notes

OAUTH_STATES = "oauth_states"


class IntegrationsStore(FirestoreStore):
    # -- OAuth state: single use, bound to the browser session that started it --------------
    def put_state(self, state_hash: str, doc: dict[str, Any]) -> None:
        self.db.collection(OAUTH_STATES).document(state_hash).set(doc, retry=WRITE_RETRY)

    def consume_state(self, state_hash: str) -> dict[str, Any] | None:
        ref = self.db.collection(OAUTH_STATES).document(state_hash)

        @firestore.transactional
        def take(txn: firestore.Transaction) -> dict[str, Any] | None:
            snap = next(iter(txn.get_all([ref])), None)
            if snap is None or not snap.exists:
                return None
            txn.delete(ref)
            return snap.to_dict()

        return take(self.db.transaction())

    # -- connections ---------------------------------------------------------------------------
    def connection_doc(self, account_id: str, user_id: str) -> dict[str, Any] | None:
        snap = self.connection_ref(account_id, user_id).get()
        return snap.to_dict() if snap.exists else None

    def set_pending(self, account_id: str, user_id: str, token_ref: str, google_email: str) -> None:
        """A new grant, not yet in use: the connection keeps working until a calendar is chosen."""
        ref = self.connection_ref(account_id, user_id)
        doc: dict[str, Any] = {"account_id": account_id, "user_id": user_id, "pending_token_ref": token_ref,
                               "pending_google_email": google_email, "pending_at": firestore.SERVER_TIMESTAMP}
        if not ref.get().exists:
            doc["status"] = "disconnected"
        ref.set(doc, merge=True, retry=WRITE_RETRY)

    def activate(self, account_id: str, user_id: str, calendar_id: str, token_ref: str,
                 google_email: str | None) -> None:
        """A calendar was chosen (first time, reconnect or switch): connection.activated, in the
        same transaction."""
        self._settle(account_id, user_id, {"status": "active", "calendar_id": calendar_id, "token_ref": token_ref,
                                           "google_email": google_email, "activated_at": firestore.SERVER_TIMESTAMP},
                     lambda before, identity: [notes.activated(account_id, user_id, google_email, calendar_id,
                                                               (before or {}).get("calendar_id"), identity)],
                     refuse_gone=True)

    def _settle(self, account_id: str, user_id: str, fields: dict[str, Any],
                staged: Callable[[dict[str, Any] | None, tuple[str, ...]], list[notes.Notification]],
                refuse_gone: bool = False) -> None:
        """Write the connection's new state, drop any pending grant, and stage its notification."""
        self.transition(account_id, user_id, {
            "account_id": account_id, "user_id": user_id, **fields, "updated_at": firestore.SERVER_TIMESTAMP,
            "pending_token_ref": firestore.DELETE_FIELD, "pending_google_email": firestore.DELETE_FIELD,
            "pending_at": firestore.DELETE_FIELD,
        }, staged, refuse_gone)

    # -- mappings ------------------------------------------------------------------------------
    def _events(self, account_id: str, user_id: str) -> firestore.CollectionReference:
        return self.connection_ref(account_id, user_id).collection(EVENTS)

    def status_figures(self, account_id: str, user_id: str) -> dict[str, Any]:
        events = self._events(account_id, user_id)

        def count(query: Any) -> int:
            return int(query.count().get()[0][0].value)

        last_synced = list(events.order_by("synced_at", direction=firestore.Query.DESCENDING).limit(1).stream())
        last_error = list(events.order_by("error_at", direction=firestore.Query.DESCENDING).limit(1).stream())
        synced_at = (last_synced[0].to_dict() or {}).get("synced_at") if last_synced else None
        error_doc = (last_error[0].to_dict() or {}) if last_error else {}
        return {
            "last_synced_at": _iso(synced_at),
            "last_error": ({"reason": error_doc["last_error"], "event_id": error_doc.get("event_id"),
                            "at": _iso(error_doc.get("error_at"))} if error_doc.get("last_error") else None),
            "counts": {
                "synced": count(events.where(filter=firestore.FieldFilter("google_exists", "==", True))),
                "failed": count(events.where(filter=firestore.FieldFilter("last_error", "!=", None))),
                "parked": count(events.where(filter=firestore.FieldFilter("has_parked", "==", True))),
                "deleted": count(events.where(filter=firestore.FieldFilter("deleted", "==", True))),
            },
        }


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else None
