"""``make demo``: send one signed webhook to the local stack and show the event it becomes.
``make demo SNAPSHOT=200``: backfill the demo user with a snapshot of 200 events, printing progress.
``make link``: print a fresh connect link for the browser demo user (valid 15 minutes).
``make demo GUEST=cliente@cliente-x.com.br``: the demo event invites that guest.
``make demo MAILS=cliente@cliente-x.com.br``: the mails that guest got from Google (the stand-in's mail log).

Reads ``.local/stack.env`` (written by ``make dev``). Signs webhooks with the
``standardwebhooks`` reference library and link tokens as HS256 JWTs, as the platform would.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

from local.stack import BROWSER_DEMO, DEMO, ROOT
from sync.kernel.model import google_event_id


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


def connect_link(env: dict[str, str], integrations_url: str, user: dict[str, Any] = BROWSER_DEMO) -> str:
    import jwt

    token = jwt.encode({"sub": user["user_id"], "acct": user["account_id"], "exp": int(time.time()) + 900},
                       env["LINK_SIGNING_SECRET"], algorithm="HS256")
    return f"{integrations_url}connect?token={token}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["webhook", "link", "snapshot", "mails"], default="webhook")
    parser.add_argument("--events", type=int, default=200, help="snapshot: how many events")
    parser.add_argument("--guest", help="webhook: invite this guest; mails: whose mails to show")
    parser.add_argument("--user", default=DEMO["user_id"],
                        help=f"user id: {DEMO['user_id']} (default) or {BROWSER_DEMO['user_id']}")
    args = parser.parse_args()
    env_file = ROOT / ".local" / "stack.env"
    if not env_file.exists():
        print("the local stack is not running: start it with `make dev` in another shell", file=sys.stderr)
        return 2
    env = load_env(env_file)
    if args.command == "link":
        print(connect_link(env, env["INTEGRATIONS_URL"]))
        return 0
    if args.command == "mails":
        if not args.guest:
            parser.error("mails needs --guest EMAIL")
        return show_mails(env, args.guest)
    if args.command == "snapshot":
        return snapshot(env, BROWSER_DEMO if args.user == BROWSER_DEMO["user_id"] else DEMO, args.events)
    user = BROWSER_DEMO if args.user == BROWSER_DEMO["user_id"] else DEMO
    calendar_id = _connected_calendar(env, user) if user is BROWSER_DEMO else DEMO["email"]
    if calendar_id is None:
        print("ana is not connected yet: open the link from `make link` first", file=sys.stderr)
        return 2
    event_id = "ev-demo-" + uuid.uuid4().hex[:6]
    start = (datetime.now(timezone.utc) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    payload = {
        "type": "event.created", "account_id": user["account_id"], "user_id": user["user_id"],
        "event": {
            "id": event_id, "updated_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "title": "Diagnóstico — Cliente X", "description": "Primeira reunião",
            "start": {"date_time": start.strftime("%Y-%m-%dT%H:%M:%S"), "time_zone": "America/Sao_Paulo"},
            "end": {"date_time": (start + timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%S"),
                    "time_zone": "America/Sao_Paulo"},
            "reminders_minutes": [10, 60], "url": f"https://app.example.com/events/{event_id}",
            "conference": {"type": "google_meet"},  # an online session: Google creates its Meet link
        },
    }
    if args.guest:
        payload["event"]["attendees"] = [{"email": args.guest, "display_name": "Cliente X", "optional": False}]
    sent = time.monotonic()
    with urllib.request.urlopen(signed_request(env["WEBHOOK_URL"], env["WEBHOOK_SIGNING_SECRET"], payload)) as r:
        print(f"webhook → {r.status} {r.read().decode()}")
    gid = google_event_id(user["account_id"], user["user_id"], event_id)
    url = f"{env['STANDIN_URL']}_admin/calendars/{calendar_id}/events"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url) as r:
            items = [e for e in json.load(r)["items"] if e["id"] == gid]
        if items:
            print(f"landed in the stand-in calendar {calendar_id} after {time.monotonic() - sent:.2f}s:")
            print(json.dumps(items[0], indent=2, ensure_ascii=False))
            print(conference_line(items[0]))
            if args.guest:
                print(f"the mails {args.guest} got: make demo MAILS={args.guest}")
            return 0
        time.sleep(0.1)
    print("the event did not land within 30 s: see the logs in .local/logs", file=sys.stderr)
    return 1


def conference_line(event: dict[str, Any]) -> str:
    """How the event's conference looks to its guests: the Meet link, or why there is none."""
    data = event.get("conferenceData")
    if not data:
        return "conference: none"
    status = (data.get("createRequest") or {}).get("status", {}).get("statusCode", "success")
    if event.get("hangoutLink"):
        return f"Google Meet: {event['hangoutLink']}  (conference {data.get('conferenceId')}, {status})"
    return f"Google Meet: {status} (no link yet)" if status == "pending" else f"Google Meet: {status}"


def show_mails(env: dict[str, str], guest: str) -> int:
    """The mails Google sent ``guest`` about the stand-in's events (``GET /_admin/mail?to=``)."""
    url = f"{env['STANDIN_URL']}_admin/mail?{urllib.parse.urlencode({'to': guest})}"
    with urllib.request.urlopen(url) as r:
        log = json.load(r)
    if not log["items"]:
        print(f"{guest} got no mail (writes mail guests only with sendUpdates all / externalOnly)")
        return 0
    for mail in log["items"]:
        start = (mail.get("start") or {}).get("dateTime") or (mail.get("start") or {}).get("date") or ""
        meet = f"  Meet {mail['hangoutLink']}" if mail.get("hangoutLink") else ""
        print(f"#{mail['n']:<4} {mail['at'] or '':<24} {mail['kind']:<12} {mail['summary'] or '(no title)'!r} "
              f"{start}{meet}  [{mail['method']}, sendUpdates={mail['sendUpdates']}]")
    counts = log["counts"].get(guest.lower(), {})
    print(f"{guest}: " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())))
    return 0


def api_call(env: dict[str, str], user: dict[str, Any], method: str, path: str,
             body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """The platform's backend calling the snapshot API with a short-lived API token."""
    import urllib.error

    import jwt

    token = jwt.encode({"sub": user["user_id"], "acct": user["account_id"], "aud": "api",
                        "exp": int(time.time()) + 300}, env["LINK_SIGNING_SECRET"], algorithm="HS256")
    request = urllib.request.Request(
        f"{env['INTEGRATIONS_URL']}api/connections/{user['account_id']}/{user['user_id']}/snapshots{path}",
        data=json.dumps(body).encode() if body is not None else None, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def snapshot(env: dict[str, str], user: dict[str, Any], count: int, page_size: int = 100) -> int:
    """Create a snapshot, send its pages, complete it and poll until it is applied."""
    now = datetime.now(timezone.utc)
    first = (now + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    events = []
    for i in range(count):
        start = first + timedelta(days=i // 6, hours=i % 6)
        events.append({
            "id": f"demo-snapshot-{i}", "updated_at": now.isoformat().replace("+00:00", "Z"),
            "title": f"Sessão {i + 1} — Cliente {i % 17 + 1}",
            "start": {"date_time": start.strftime("%Y-%m-%dT%H:%M:%S"), "time_zone": "America/Sao_Paulo"},
            "end": {"date_time": (start + timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%S"),
                    "time_zone": "America/Sao_Paulo"}})
    status, created = api_call(env, user, "POST", "", {"as_of": now.isoformat().replace("+00:00", "Z"),
                                                        "covers": {"from": now.isoformat().replace("+00:00", "Z")}})
    print(f"POST snapshots → {status} {json.dumps(created)}")
    if status != 201:
        return 1
    sid = created["snapshot_id"]
    pages = [events[i:i + page_size] for i in range(0, len(events), page_size)]
    for n, page in enumerate(pages):
        status, accepted = api_call(env, user, "PUT", f"/{sid}/pages/{n}", {"events": page})
        print(f"PUT pages/{n} → {status} {json.dumps(accepted)}")
    status, applying = api_call(env, user, "POST", f"/{sid}/complete", {"pages": len(pages)})
    print(f"POST complete → {status} {json.dumps(applying)}")
    if status != 202:
        return 1
    started = time.monotonic()
    while time.monotonic() - started < 600:
        _, view = api_call(env, user, "GET", f"/{sid}")
        print(f"  {time.monotonic() - started:6.1f}s  {view['state']:<9} pending {view['pending']:>5}  "
              f"{json.dumps(view['counts'])}", flush=True)
        if view["state"] == "done":
            return 0
        time.sleep(1)
    return 1


def _connected_calendar(env: dict[str, str], user: dict[str, Any]) -> str | None:
    """The calendar the user picked in the browser, from the status API (as the platform would)."""
    import jwt

    token = jwt.encode({"sub": user["user_id"], "acct": user["account_id"], "aud": "api",
                        "exp": int(time.time()) + 60}, env["LINK_SIGNING_SECRET"], algorithm="HS256")
    request = urllib.request.Request(
        f"{env['INTEGRATIONS_URL']}api/connections/{user['account_id']}/{user['user_id']}",
        headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as r:
        status = json.load(r)
    return status["calendar_id"] if status["status"] == "active" else None


if __name__ == "__main__":
    sys.exit(main())
