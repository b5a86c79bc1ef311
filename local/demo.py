"""``make demo``: send one signed webhook to the local stack and show the event it becomes.

Reads ``.local/stack.env`` (written by ``make dev``). Signs with the ``standardwebhooks``
reference library, as the platform would.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from local.stack import DEMO, ROOT
from sync.model import google_event_id


def load_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = json.loads(value) if value.startswith('"') else shlex.split(value)[0]
    return env


def signed_request(url: str, secret: str, payload: dict) -> urllib.request.Request:
    body = json.dumps(payload)
    msg_id = "msg_" + uuid.uuid4().hex
    now = datetime.now(timezone.utc)
    signature = Webhook(secret).sign(msg_id, now, body)
    return urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json", "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature})


def main() -> int:
    env_file = ROOT / ".local" / "stack.env"
    if not env_file.exists():
        print("the local stack is not running: start it with `make dev` in another shell", file=sys.stderr)
        return 2
    env = load_env(env_file)
    event_id = "ev-demo-" + uuid.uuid4().hex[:6]
    start = (datetime.now(timezone.utc) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    payload = {
        "type": "event.created", "account_id": DEMO["account_id"], "user_id": DEMO["user_id"],
        "event": {
            "id": event_id, "updated_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "title": "Diagnóstico — Cliente X", "description": "Primeira reunião",
            "start": {"date_time": start.strftime("%Y-%m-%dT%H:%M:%S"), "time_zone": "America/Sao_Paulo"},
            "end": {"date_time": (start + timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%S"),
                    "time_zone": "America/Sao_Paulo"},
            "reminders_minutes": [10, 60], "url": f"https://app.example.com/events/{event_id}",
        },
    }
    sent = time.monotonic()
    with urllib.request.urlopen(signed_request(env["WEBHOOK_URL"], env["WEBHOOK_SIGNING_SECRET"], payload)) as r:
        print(f"webhook → {r.status} {r.read().decode()}")
    gid = google_event_id(DEMO["account_id"], DEMO["user_id"], event_id)
    url = f"{env['STANDIN_URL']}_admin/calendars/{DEMO['email']}/events"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url) as r:
            items = [e for e in json.load(r)["items"] if e["id"] == gid]
        if items:
            print(f"landed in the stand-in calendar {DEMO['email']} after {time.monotonic() - sent:.2f}s:")
            print(json.dumps(items[0], indent=2, ensure_ascii=False))
            return 0
        time.sleep(0.1)
    print("the event did not land within 30 s: see the logs in .local/logs", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
