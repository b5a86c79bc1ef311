"""The whole local stack on emulators: ``python -m local.stack`` (what ``make dev`` runs).

Starts the Pub/Sub and Firestore emulators, the Calendar/OAuth stand-in, the platform's
notification receiver (local/receiver.py), the four functions under functions-framework,
creates the topic, the push subscription to the worker and the dead-letter topic with its
inspection subscription, the notifications topic (delivered through local.pusher) with its
dead-letter topic, and connects one demo user. Ctrl-C stops everything it started. Tests use
the same ``Stack`` class.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from local import emulators, function_server, ports, shutdown
from local.receiver import Receiver, ReceiverServer
from local.standin import SCOPE_CALENDARLIST_RO, SCOPE_EVENTS, Server, State

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "local-project"
CLIENT_ID = "local-client.apps.example"
CLIENT_SECRET = "local-client-secret"
DEMO: dict[str, Any] = {"account_id": "demo-account", "user_id": "demo-user", "email": "demo.user@example.com"}
# Not connected at start: a person connects it through the browser flow (`make link`).
BROWSER_DEMO: dict[str, Any] = {"account_id": "demo-account", "user_id": "ana", "email": "ana.souza@example.com",
                "calendars": [{"id": "consultoria@group.calendar.example", "summary": "Consultoria"},
                              {"id": "feriados@group.calendar.example", "summary": "Feriados", "role": "reader"}]}
FUNCTIONS = ("handle_webhook", "sync_worker", "integrations", "deliver_notification")
WORKER_SUBSCRIPTION = "calendar-sync-worker"


class Stack:
    def __init__(self, state_dir: Path, topic: str = "calendar-sync", extra_env: dict[str, str] | None = None,
                 function_names: tuple[str, ...] = FUNCTIONS,
                 shared_emulators: dict[str, emulators.Process] | None = None, push: bool = True) -> None:
        self.state_dir = state_dir
        self.log_dir = state_dir / "logs"
        self.topic = topic
        self.extra_env = extra_env or {}
        self.function_names = function_names
        self.processes: dict[str, emulators.Process] = {}
        self.shared = dict(shared_emulators or {})  # started by someone else: not ours to stop
        self.push = push  # False: no emulator push subscription (local.pusher delivers instead)
        self.ports: dict[str, int] = {}
        # Each function's listening socket, bound here and handed to its process (local/ports.py):
        # held until the stack stops, so a restarted function serves the same port.
        self.sockets: dict[str, socket.socket] = {}
        self.standin: Server | None = None
        self.env: dict[str, str] = {}
        # The platform's notification endpoint (docs/notifications.md#delivery) and the pusher that feeds
        # deliver_notification from an emulator pull subscription (see _start_notifications).
        self.receiver: ReceiverServer | None = None
        self.receiver_echo = False
        self.notification_pusher: Any = None
        self.notification_attempts = 5  # the dead-letter policy's max_delivery_attempts

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        own = tuple(kind for kind in ("pubsub", "firestore") if kind not in self.shared)
        if own:
            self.processes.update(emulators.start_all(own, self.log_dir))
        hosts = {kind: (self.shared.get(kind) or self.processes[kind]).host for kind in ("pubsub", "firestore")}
        self.sockets = {name: ports.listening_socket() for name in self.function_names}
        self.ports = {name: sock.getsockname()[1] for name, sock in self.sockets.items()}
        public_base = f"http://127.0.0.1:{self.ports.get('integrations', 0)}"
        self.standin = Server(state=State({CLIENT_ID: {
            "secret": CLIENT_SECRET, "redirect_uris": [public_base + "/oauth/callback"],
            "name": "Evolutto", "privacy_policy_uri": public_base + "/privacy"}})).start()
        self.env = {
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "PUBSUB_EMULATOR_HOST": hosts["pubsub"],
            "FIRESTORE_EMULATOR_HOST": hosts["firestore"],
            "SYNC_TOPIC": self.topic,
            "CALENDAR_API_ROOT": self.standin.url,
            "OAUTH_AUTH_URI": self.standin.url + "o/oauth2/auth",
            "OAUTH_TOKEN_URI": self.standin.url + "token",
            "OAUTH_REVOKE_URI": self.standin.url + "revoke",
            "PUBLIC_BASE_URL": public_base,
            "ALLOWED_RETURN_ORIGINS": "http://127.0.0.1:8000,http://localhost:8000",
            "SECRETS_BACKEND": "env",
            "WEBHOOK_SIGNING_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            "LINK_SIGNING_SECRET": secrets.token_urlsafe(32),
            "OAUTH_CLIENT_ID": CLIENT_ID,
            "OAUTH_CLIENT_SECRET": CLIENT_SECRET,
            "SEND_UPDATES": "none",
            **self._notifications_env(),
            **self.extra_env,
        }
        os.environ.update(self.env)  # this process is the admin: topics, seeding, assertions
        self._create_topics()
        for name in self.function_names:
            self.start_function(name)
        self._start_notifications()

    # -- notifications to the platform (docs/notifications.md) ------------------------------
    def _notifications_env(self) -> dict[str, str]:
        if "deliver_notification" not in self.function_names:
            return {}
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.receiver = ReceiverServer(Receiver([secret], echo=self.receiver_echo)).start()
        return {"PLATFORM_WEBHOOK_URL": self.receiver.url + "notifications", "PLATFORM_WEBHOOK_SECRET": secret}

    @property
    def notifications_subscription(self) -> str:
        return f"{self.topic}-notifications-deliver"

    def _start_notifications(self) -> None:
        """Deliver notifications through local.pusher, not the emulator's push: the emulator's push
        breaks once a dead-letter policy fires, and never forwards dead letters from an ordered
        pull subscription. So: an unordered pull subscription with the cloud's dead-letter policy
        (5 attempts), pushed as real envelopes with backoff. The cloud's subscription is ordered
        by ``{account_id}/{user_id}``; each notification carries its timestamp either way."""
        if "deliver_notification" not in self.function_names:
            return
        from local.pusher import Pusher, create_subscription

        path = create_subscription(PROJECT, f"{self.topic}-notifications", self.notifications_subscription,
                                   f"{self.topic}-notifications-dead-letter", self.notification_attempts)
        self.notification_pusher = Pusher(path, self.url("deliver_notification"), timeout=15, concurrency=8,
                                          min_backoff=0.5, max_backoff=4.0).start()

    def start_function(self, name: str) -> None:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        log_path = self.log_dir / f"{name}.log"

        def spawned(proc: subprocess.Popen[bytes]) -> None:  # kept while it starts: stop() stops it too
            self.processes[name] = emulators.Process(name, proc, f"127.0.0.1:{self.ports[name]}", log_path)

        try:
            function_server.serve(name, "main.py", self.sockets[name], name, ROOT, env, log_path, on_spawn=spawned)
        except BaseException:
            self.processes.pop(name, None)  # serve stopped it
            raise

    def stop_function(self, name: str, sig: int = signal.SIGTERM) -> None:
        handle = self.processes.pop(name, None)
        if handle is None:
            return
        if sig == signal.SIGKILL and handle.proc.poll() is None:
            os.killpg(handle.proc.pid, signal.SIGKILL)
            handle.proc.wait(timeout=10)
        handle.stop()

    def stop(self) -> None:
        if self.notification_pusher is not None:
            self.notification_pusher.stop()
            self.notification_pusher = None
        for name in list(self.processes)[::-1]:
            self.processes.pop(name).stop()
        if self.standin is not None:
            self.standin.stop()
            self.standin = None
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None
        while self.sockets:
            self.sockets.popitem()[1].close()

    def raise_if_dead(self) -> None:
        """Raise, naming every process of the stack that has exited and showing the end of its log
        (a benchmark or script calls it between steps and when a step fails: a dead function
        otherwise shows only as refused connections, and its log goes with the state directory)."""
        dead = [p for p in self.processes.values() if p.proc.poll() is not None]
        if dead:
            raise RuntimeError("; ".join(f"{p.name} exited with {p.proc.returncode}" for p in dead)
                               + "".join(emulators.log_tail(p.log_path) for p in dead))

    @property
    def worker_subscription(self) -> str:
        return WORKER_SUBSCRIPTION if self.topic == "calendar-sync" else f"{self.topic}-worker"

    @property
    def bulk_subscription(self) -> str:
        return f"{self.topic}-bulk-worker"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}/"

    # -- Pub/Sub topology ------------------------------------------------------------------
    def _create_topics(self) -> None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(PROJECT, self.topic)
        dead = publisher.topic_path(PROJECT, self.topic + "-dead-letter")
        bulk = publisher.topic_path(PROJECT, self.topic + "-bulk")
        publisher.create_topic(name=topic)
        publisher.create_topic(name=dead)
        publisher.create_topic(name=bulk)
        if "deliver_notification" in self.function_names:  # docs/notifications.md#delivery
            for name in (f"{self.topic}-notifications", f"{self.topic}-notifications-dead-letter"):
                publisher.create_topic(name=publisher.topic_path(PROJECT, name))
            subscriber.create_subscription(request={
                "name": subscriber.subscription_path(PROJECT, f"{self.topic}-notifications-dead-letter-inspect"),
                "topic": publisher.topic_path(PROJECT, f"{self.topic}-notifications-dead-letter"),
                "enable_message_ordering": False, "ack_deadline_seconds": 60,
            })
        # The emulator's push delivery breaks once a dead-letter policy fires on a push
        # subscription (DESIGN.md), so locally the push subscription has none; Terraform sets it.
        if self.push:
            subscriber.create_subscription(request={
                "name": subscriber.subscription_path(PROJECT, self.worker_subscription),
                "topic": topic,
                "push_config": {"push_endpoint": self.url("sync_worker")} if "sync_worker" in self.ports else None,
                "enable_message_ordering": True,
                "ack_deadline_seconds": 60,
            })
            # The bulk lane (docs/snapshots.md#what-is-applied): its own subscription, so bulk work never queues
            # ahead of a live change.
            subscriber.create_subscription(request={
                "name": subscriber.subscription_path(PROJECT, self.bulk_subscription),
                "topic": bulk,
                "push_config": {"push_endpoint": self.url("sync_worker")} if "sync_worker" in self.ports else None,
                "enable_message_ordering": True,
                "ack_deadline_seconds": 60,
            })
        subscriber.create_subscription(request={
            "name": subscriber.subscription_path(PROJECT, self.topic + "-dead-letter-inspect"),
            "topic": dead,
            "enable_message_ordering": False,  # operators see every dead letter at once
            "ack_deadline_seconds": 60,
        })
        subscriber.close()

    # -- the stand-in and the demo user ----------------------------------------------------
    def add_google_user(self, email: str, calendars: list[dict[str, Any]] | None = None) -> str:
        """A Google account on the stand-in, and a refresh token granted to our client."""
        assert self.standin is not None
        self.standin.state.add_user(email, calendars=calendars)
        return self.standin.state.issue_grant(email, CLIENT_ID, (SCOPE_EVENTS, SCOPE_CALENDARLIST_RO))

    def connect(self, account_id: str, user_id: str, email: str, calendar_id: str | None = None,
                in_process: bool = False) -> dict[str, Any]:
        """Create a Google user and connect it, through ``python -m sync.ops import-connection``:
        in a process of its own, or (``in_process``, what the tests do for each of their users)
        the same command's ``main`` called here, without a Python start and imports each time."""
        token = self.add_google_user(email)
        token_file = self.state_dir / f"token-{secrets.token_hex(4)}"
        token_file.write_text(token)
        token_file.chmod(0o600)
        args = ["import-connection", "--account-id", account_id, "--user-id", user_id, "--calendar-id",
                calendar_id or email, "--refresh-token-file", str(token_file), "--google-email", email]
        try:
            if in_process:
                return self._connect_here(args)
            out = subprocess.run([sys.executable, "-m", "sync.ops", *args], cwd=ROOT, env={**os.environ, **self.env},
                                 capture_output=True, text=True, timeout=60, check=True)
        finally:
            token_file.unlink()
        return dict(json.loads(out.stdout))

    def _connect_here(self, args: list[str]) -> dict[str, Any]:
        import contextlib
        import io

        from sync import bootstrap
        from sync.ops.__main__ import main as ops_main

        os.environ.update(self.env)
        bootstrap.reset()  # built from this stack's environment
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = ops_main(args)
        if code != 0:
            raise RuntimeError(f"import-connection exited with {code}: {out.getvalue()}")
        return dict(json.loads(out.getvalue()))

    def write_env_file(self) -> Path:
        path = self.state_dir / "stack.env"
        lines = [f"export {k}={json.dumps(v)}" for k, v in sorted(self.env.items())]
        lines += [f"export WEBHOOK_URL={json.dumps(self.url('handle_webhook'))}",
                  f"export WORKER_URL={json.dumps(self.url('sync_worker'))}",
                  f"export INTEGRATIONS_URL={json.dumps(self.url('integrations'))}",
                  f"export STANDIN_URL={json.dumps(self.standin.url if self.standin else '')}",
                  f"export RECEIVER_URL={json.dumps(self.receiver.url if self.receiver else '')}"]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path


def main() -> int:
    # Ctrl-C, SIGTERM (e.g. from `timeout`) or SIGHUP stop everything in order; a second one
    # while that runs kills whatever is left at once (local/shutdown.py).
    shutdown.install()
    state_dir = Path(os.environ.get("LOCAL_STATE_DIR") or ROOT / ".local")
    state_dir.mkdir(exist_ok=True)
    stack = Stack(state_dir)
    stack.receiver_echo = True  # print each notification the platform stand-in receives
    print("starting emulators, the Calendar/OAuth stand-in, the platform's notification receiver and the four "
          "functions…", flush=True)
    try:
        stack.start()
        stack.connect(DEMO["account_id"], DEMO["user_id"], DEMO["email"])
        assert stack.standin is not None
        stack.standin.state.add_user(BROWSER_DEMO["email"], "Ana Souza", BROWSER_DEMO["calendars"])
        env_file = stack.write_env_file()
        from local.demo import connect_link

        link = connect_link(stack.env, stack.url("integrations"))
        print(f"""
Local stack is up (logs in {stack.log_dir}).

  webhook       POST {stack.url('handle_webhook')}
  worker        {stack.url('sync_worker')}  (pushed to by subscription {WORKER_SUBSCRIPTION})
  integrations  {stack.url('integrations')}
  notifications {stack.url('deliver_notification')}  (fed by local.pusher from {stack.notifications_subscription})
                → platform stand-in {stack.env['PLATFORM_WEBHOOK_URL']}  (verifies, prints each notification here)
  stand-in      {stack.standin.url if stack.standin else ''}  (Google Calendar + OAuth)
  Pub/Sub       {stack.env['PUBSUB_EMULATOR_HOST']}   Firestore {stack.env['FIRESTORE_EMULATOR_HOST']}

Demo user {DEMO['account_id']}/{DEMO['user_id']} is connected to calendar {DEMO['email']}.
Environment for other shells: source {env_file}

Send a signed webhook and watch it land in the stand-in calendar:

    make demo

Backfill the demo user's calendar with a snapshot of 200 events (docs/snapshots.md), printing progress;
the platform stand-in above prints the snapshot.completed notification when it is done:

    make demo SNAPSHOT=200

Connect a Google account through the browser (stand-in consent screen, then pick a calendar).
This link is valid for 15 minutes; `make link` prints a fresh one:

    {link}

then send it an event with `make demo USER=ana`. Ctrl-C stops everything.
""", flush=True)
        while all(p.proc.poll() is None for p in stack.processes.values()):
            time.sleep(1)
        dead = [n for n, p in stack.processes.items() if p.proc.poll() is not None]
        print(f"stopping: {', '.join(dead)} exited (see {stack.log_dir})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping… (Ctrl-C again to kill at once)", flush=True)
        return 0
    finally:
        stack.stop()
        (state_dir / "stack.env").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
