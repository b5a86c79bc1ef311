"""The connection store and the OAuth states on Firestore (the connect flow's side of a connection).

Layout (beside the worker's, sync/adapters/firestore/base.py)::

    oauth_states/{sha256(state)}           one per started connect flow; TTL on expires_at
    connections/{account:user}             + pending_token_ref / pending_google_email while a new
                                           grant waits for its calendar to be chosen
    connections/{account:user}/events/…    the worker's mappings (counted for the status route)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore

from sync.adapters.firestore.base import WRITE_RETRY, FirestoreBase, cleared_usage_fields, connection_from_doc
from sync.kernel import notification as notes
from sync.kernel.errors import DisconnectInProgress
from sync.kernel.model import Connection, ConnectionStatus

OAUTH_STATES = "oauth_states"


class FirestoreOAuthStates:
    """OAuth ``state`` values: single use, bound to the browser session that started the flow."""

    def __init__(self, client: firestore.Client) -> None:
        self.db = client

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


class FirestoreConnections(FirestoreBase):
    def get_connection(self, account_id: str, user_id: str) -> Connection | None:
        snap = self.connection_ref(account_id, user_id).get()
        if not snap.exists:
            return None
        return connection_from_doc({"account_id": account_id, "user_id": user_id, **(snap.to_dict() or {})})

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
        """A calendar was chosen (first time, reconnect, switch, or a grant imported): the connection
        is active on it with this grant, any pending grant dropped, and ``connection.activated``
        staged in the same transaction. The transition is named by the document's update time it
        was made on (deterministic webhook-ids). DisconnectInProgress, changing nothing, while a
        disconnect is under way: an activation waits for it to finish."""
        ref = self.connection_ref(account_id, user_id)
        fields = {"account_id": account_id, "user_id": user_id, "status": ConnectionStatus.ACTIVE.value,
                  "calendar_id": calendar_id, "token_ref": token_ref, "google_email": google_email,
                  "activated_at": firestore.SERVER_TIMESTAMP, "updated_at": firestore.SERVER_TIMESTAMP,
                  "pending_token_ref": firestore.DELETE_FIELD, "pending_google_email": firestore.DELETE_FIELD,
                  "pending_at": firestore.DELETE_FIELD, **cleared_usage_fields()}
        staged: list[notes.Notification] = []

        def run(txn: firestore.Transaction) -> None:
            snap = next(iter(txn.get_all([ref])), None)
            before = (snap.to_dict() or {}) if snap is not None and snap.exists else None
            stamp = getattr(snap, "update_time", None) if before is not None else None
            identity = (stamp.rfc3339() if hasattr(stamp, "rfc3339") else str(stamp),)  # type: ignore[union-attr]
            if (before or {}).get("status") == ConnectionStatus.DISCONNECTING.value:
                raise DisconnectInProgress("a disconnect of this connection is still removing its events: "
                                           "connect again once it is done")
            txn.set(ref, fields, merge=True)
            self.stage(txn, [notes.activated(account_id, user_id, google_email, calendar_id,
                                             (before or {}).get("calendar_id"), identity)], staged)

        self.transaction(run)
        self.published(staged)  # a failed publish: the outbox sweep sends it (the transition is made)

    def status_figures(self, account_id: str, user_id: str) -> dict[str, Any]:
        events = self.events_ref(account_id, user_id)

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
