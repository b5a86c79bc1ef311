"""Activating a connection (docs/connections.md#the-browser-flow, docs/configuration.md#operations):
a calendar chosen for a grant, the one use case behind the connect flow's ``POST /calendars`` and
``python -m sync.ops import-connection``. On ports only.

    activate   the connection active on the calendar with this grant (``connection.activated``),
               its calendar watched (drift repair), a replaced grant of another Google account
               revoked, the connection's other token versions destroyed, and the synced events
               moved through the queue when the calendar changed
    resume     the changes parked while it could not write, sent back through the queue
"""

from __future__ import annotations

import logging

from sync.apply.parked import resume_parked
from sync.kernel import logs
from sync.kernel.errors import AuthRevoked, Retryable
from sync.kernel.model import Connection, connection_key
from sync.kernel.ports import CalendarMoves, ConnectionStore, MappingStore, OAuthClient, Publisher, TokenVault, Watches


class Activation:
    def __init__(self, connections: ConnectionStore, mappings: MappingStore, vault: TokenVault, live: Publisher,
                 watches: Watches, moves: CalendarMoves, oauth: OAuthClient) -> None:
        self.connections = connections
        self.mappings = mappings
        self.vault = vault
        self.live = live
        self.watches = watches
        self.moves = moves
        self.oauth = oauth

    def activate(self, account_id: str, user_id: str, calendar_id: str, token_ref: str,
                 google_email: str | None, *, can_host_meet: bool | None = None) -> int:
        """Make the connection active; return how many synced events move to the new calendar.
        DisconnectInProgress (nothing changed) while a disconnect still removes events.
        ``can_host_meet``: what the calendar's list entry says of Google Meet (docs/events.md#google-meet)."""
        before = self.connections.get_connection(account_id, user_id)
        previous = before.calendar_id if before else None
        self.connections.activate(account_id, user_id, calendar_id, token_ref, google_email or None,
                                  can_host_meet=can_host_meet)
        self.watches.activated(account_id, user_id)  # drift repair watches the chosen calendar
        if before is not None:
            self._retire_replaced_grant(before, token_ref, google_email or "")
        self.vault.retire_others(token_ref)
        if not previous or previous == calendar_id:
            return 0
        # The synced events follow as jobs on the bulk lane: the page answers at once.
        return self.moves.start(account_id, user_id, previous, calendar_id)

    def resume(self, account_id: str, user_id: str) -> int:
        """Send the changes parked while the connection could not write back through the queue."""
        return resume_parked(self.mappings, self.live, account_id, user_id)

    def import_grant(self, account_id: str, user_id: str, calendar_id: str, refresh_token: str,
                     google_email: str | None = None) -> dict[str, object]:
        """``import-connection``: store the token the way the connect flow does (one secret per
        connection, a new version), then activate and resume as the flow does."""
        if not refresh_token.strip():
            raise ValueError("the refresh token file is empty")
        ref = self.vault.store_refresh_token(connection_key(account_id, user_id), refresh_token.strip())
        self.activate(account_id, user_id, calendar_id, ref, google_email)
        resumed = self.resume(account_id, user_id)
        return {"account_id": account_id, "user_id": user_id, "status": "active", "calendar_id": calendar_id,
                "resumed_parked_changes": resumed}

    def _retire_replaced_grant(self, before: Connection, ref: str, email: str) -> None:
        """A grant of another Google account that this connection no longer uses is revoked.
        (Revoking one of the same account would revoke the new grant too: Google revokes per
        user and client; so nothing is revoked when either address is unknown.) Best effort:
        the token version is destroyed either way."""
        old_ref, old_email = before.token_ref, before.google_email
        if not old_ref or old_ref == ref or not old_email or not email or old_email == email:
            return
        try:
            self.oauth.revoke(self.vault.read_refresh_token(old_ref))
        except AuthRevoked:
            pass  # already gone
        except Retryable as exc:
            logs.log(logging.WARNING, "replaced grant not revoked at the provider",
                     {"function": "integrations", "account_id": before.account_id,
                      "user_id": before.user_id, "reason": exc.reason})
