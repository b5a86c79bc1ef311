"""A stand-in for the platform's notification endpoint (docs/notifications.md), for ``make dev`` and tests.

Verifies every POST with the ``standardwebhooks`` reference library (as the platform would),
holds its body against the notification's schema in docs/openapi.yaml (its top-level
``webhooks``; a notification that breaks its own document is printed as such and recorded with
its ``document_problems``), prints one line per notification (type and ids: notifications never
carry titles or tokens), and keeps what it received for tests. Its answer is switchable, to play a platform that is
down (``POST /_mode {"status": 500}``) or hangs (``{"hang": 15}``).

    POST   /            a notification: 401 if no configured secret verifies it, else the mode's status
    GET    /_received   every attempt so far, verified or not, with what was answered
    DELETE /_received   forget them
    POST   /_mode       {"status": 200, "hang": 0}
    POST   /_secrets    {"secrets": ["whsec_…", …]}: the secrets it verifies with (any one matching)

Alone: ``python -m local.receiver --port 8787 --secret whsec_…``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response as WResponse

from local.serving import BackgroundServer


class Receiver:
    def __init__(self, secrets: list[str], echo: bool = True) -> None:
        self.secrets = list(secrets)
        self.echo = echo
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.hang = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/_received":
            if request.method == "DELETE":
                with self.lock:
                    self.received.clear()
            with self.lock:
                return _json(list(self.received))(environ, start_response)
        if request.path == "/_mode" and request.method == "POST":
            mode = request.get_json(force=True)
            with self.lock:
                self.status, self.hang = int(mode.get("status", 200)), float(mode.get("hang", 0))
            return _json({"status": self.status, "hang": self.hang})(environ, start_response)
        if request.path == "/_secrets" and request.method == "POST":
            with self.lock:
                self.secrets = list(request.get_json(force=True)["secrets"])
            return _json({"secrets": len(self.secrets)})(environ, start_response)
        if request.method != "POST":
            return _json({"error": "method_not_allowed"}, 405)(environ, start_response)
        return self.receive(request)(environ, start_response)

    def receive(self, request: Request) -> WResponse:
        body = request.get_data()
        headers = dict(request.headers)
        with self.lock:
            secrets, status, hang = list(self.secrets), self.status, self.hang
        verified_with, parsed = [], None
        for i, secret in enumerate(secrets):
            try:
                parsed = Webhook(secret).verify(body, headers)
                verified_with.append(i)
            except WebhookVerificationError:
                continue
        problems = document_problems(parsed) if parsed is not None else []
        record = {"webhook_id": headers.get("Webhook-Id"), "webhook_timestamp": headers.get("Webhook-Timestamp"),
                  "signatures": len((headers.get("Webhook-Signature") or "").split()),
                  "verified_with": verified_with, "body": parsed, "received_at": time.time(),
                  "answered": status if verified_with else 401, "document_problems": problems}
        with self.lock:
            self.received.append(record)
        if self.echo:
            if parsed is None:
                print(f"[platform] REJECTED a notification that no secret verifies ({record['webhook_id']})",
                      flush=True)
            else:
                data = parsed.get("data", {})
                extra = {k: v for k, v in data.items() if k not in ("account_id", "user_id")}
                print(f"[platform] {parsed.get('type')} {data.get('account_id')}/{data.get('user_id')} "
                      f"{json.dumps(extra, ensure_ascii=False)} webhook-id={record['webhook_id']} "
                      f"(verified; answering {status})", flush=True)
                for problem in problems:
                    print(f"[platform] BREAKS docs/openapi.yaml: {parsed.get('type')} "
                          f"webhook-id={record['webhook_id']}: {problem}", flush=True)
        if not verified_with:
            return _json({"error": "invalid_signature"}, 401)
        if hang:
            time.sleep(hang)
        return _json({"received": True}, status)

    # -- for tests ----------------------------------------------------------------------------
    def delivered(self) -> list[dict[str, Any]]:
        """The attempts it acknowledged (verified and answered 2xx)."""
        with self.lock:
            return [r for r in self.received if r["verified_with"] and 200 <= r["answered"] < 300]

    def document_problems(self) -> list[str]:
        """Every way a verified notification so far broke docs/openapi.yaml."""
        with self.lock:
            return [f"{r['webhook_id']}: {p}" for r in self.received for p in r.get("document_problems", [])]

    def set_mode(self, status: int = 200, hang: float = 0.0) -> None:
        with self.lock:
            self.status, self.hang = status, hang


def document_problems(body: Any) -> list[str]:
    """Why a notification's body breaks its schema in docs/openapi.yaml ([] when it does not)."""
    from local.openapi_doc import notification_problems  # PyYAML and jsonschema: loaded on first use

    return notification_problems(body)


def _json(payload: Any, status: int = 200) -> WResponse:
    return WResponse(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")


class ReceiverServer(BackgroundServer):
    def __init__(self, receiver: Receiver, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(receiver, "platform-receiver", host, port)
        self.receiver = receiver


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m local.receiver", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--secret", action="append", required=True, help="whsec_… (repeat during a rotation)")
    args = parser.parse_args()
    server = ReceiverServer(Receiver(args.secret), port=args.port).start()
    print(f"receiving notifications on {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
