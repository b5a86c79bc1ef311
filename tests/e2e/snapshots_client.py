"""The platform's side of a snapshot, for the end-to-end tests, the chaos suite and the bench."""

from __future__ import annotations

import time
from typing import Any

import jwt
import requests

from tests.helpers import event, version


def token(env: dict[str, str], account_id: str, user_id: str) -> str:
    return jwt.encode({"sub": user_id, "acct": account_id, "aud": "api", "exp": int(time.time()) + 600},
                      env["LINK_SIGNING_SECRET"], algorithm="HS256")


class SnapshotApi:
    def __init__(self, integrations_url: str, env: dict[str, str], user: dict[str, str]) -> None:
        self.base = f"{integrations_url}api/connections/{user['account_id']}/{user['user_id']}/snapshots"
        self.env, self.user = env, user
        self.http = requests.Session()

    def call(self, method: str, path: str = "", body: Any = None, bearer: str | None = None) -> requests.Response:
        bearer = bearer or token(self.env, self.user["account_id"], self.user["user_id"])
        return self.http.request(method, self.base + path, json=body, timeout=120,
                                 headers={"Authorization": "Bearer " + bearer})

    def create(self, as_of: str, covers_from: str | None = None, **flags: Any) -> str:
        body: dict[str, Any] = {"as_of": as_of, **flags}
        if covers_from:
            body["covers"] = {"from": covers_from}
        r = self.call("POST", "", body)
        assert r.status_code == 201, r.text
        assert r.json()["state"] == "receiving"
        return str(r.json()["snapshot_id"])

    def put(self, snapshot_id: str, n: int, events: list[dict[str, Any]]) -> requests.Response:
        return self.call("PUT", f"/{snapshot_id}/pages/{n}", {"events": events})

    def complete(self, snapshot_id: str, pages: int) -> requests.Response:
        return self.call("POST", f"/{snapshot_id}/complete", {"pages": pages})

    def get(self, snapshot_id: str) -> dict[str, Any]:
        r = self.call("GET", f"/{snapshot_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def send(self, events: list[dict[str, Any]], as_of: str, page_size: int = 1000, covers_from: str | None = None,
             **flags: Any) -> tuple[str, requests.Response]:
        """Create, put every page, complete: (snapshot id, the complete's response)."""
        snapshot_id = self.create(as_of, covers_from, **flags)
        pages = [events[i:i + page_size] for i in range(0, len(events), page_size)]
        for n, page in enumerate(pages):
            r = self.put(snapshot_id, n, page)
            assert r.status_code == 202 and r.json() == {"accepted": len(page)}, r.text
        return snapshot_id, self.complete(snapshot_id, len(pages))

    def wait_done(self, snapshot_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            view = self.get(snapshot_id)
            if view["state"] == "done":
                return view
            time.sleep(0.3)
        raise AssertionError(f"snapshot {snapshot_id} not done after {timeout}s: {view}")


def events(n: int, prefix: str = "ev", updated: int = 0, **fields: Any) -> list[dict[str, Any]]:
    return [event(f"{prefix}-{i}", updated=updated, **fields) for i in range(n)]


__all__ = ["SnapshotApi", "events", "event", "version", "token"]
