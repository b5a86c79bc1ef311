"""The worker's push identity check (sync/adapters/push_auth.py) through functions-framework's test client:
Google-style ID tokens signed with a test RSA key, certificates served by a local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from functions_framework import create_app
from google.auth import crypt
from google.auth import jwt as google_jwt

from sync import bootstrap
from sync.apply.service import SyncService
from sync.kernel.errors import ConfigError
from tests.fakes import FakeCalendar, FakeStore, active_connection
from tests.helpers import payload, push_envelope

AUDIENCE = "https://worker-abc123-uc.a.run.app"
PUSH_SA = "pubsub-push@proj.iam.gserviceaccount.com"
KID = "test-key-1"


def _key_and_cert() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-google-certs")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return pem_key, cert.public_bytes(serialization.Encoding.PEM).decode()


GOOD_KEY, GOOD_CERT = _key_and_cert()
OTHER_KEY, _ = _key_and_cert()  # a forger's key, presented under Google's key id


class CertServer:
    """Serves {kid: PEM certificate} like https://www.googleapis.com/oauth2/v1/certs."""

    def __init__(self) -> None:
        self.fetches = 0
        self.failing = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.fetches += 1
                body = json.dumps({KID: GOOD_CERT}).encode()
                self.send_response(500 if server.failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=600")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/oauth2/v1/certs"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def certs():
    server = CertServer()
    yield server
    server.httpd.shutdown()


def id_token(key: bytes = GOOD_KEY, **claims: object) -> str:
    now = int(time.time())
    body = {"iss": "https://accounts.google.com", "aud": AUDIENCE, "azp": "1234", "sub": "1234",
            "email": PUSH_SA, "email_verified": True, "iat": now, "exp": now + 3600, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return google_jwt.encode(crypt.RSASigner.from_string(key, key_id=KID), body).decode()


@pytest.fixture
def world(monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "unit-project")
    monkeypatch.setenv("SECRETS_BACKEND", "env")
    for name in ("PUSH_AUDIENCE", "PUSH_SERVICE_ACCOUNT", "PUSH_CERTS_URL"):
        monkeypatch.delenv(name, raising=False)

    def start(check: bool, certs_url: str = "") -> tuple:
        if check:
            monkeypatch.setenv("PUSH_AUDIENCE", AUDIENCE)
            monkeypatch.setenv("PUSH_SERVICE_ACCOUNT", PUSH_SA)
            monkeypatch.setenv("PUSH_CERTS_URL", certs_url)
        bootstrap.reset()
        store, calendar = FakeStore(), FakeCalendar()
        store.save_connection(active_connection())
        bootstrap.container().override(sync_service=SyncService(store, calendar))
        return create_app("sync_worker", "main.py").test_client(), calendar

    yield start
    bootstrap.reset()


def push(client, token: str | None, event_id: str = "ev-1"):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = push_envelope({"schema": 1, "webhook_id": "msg_" + event_id, **payload(event_id=event_id)})
    return client.post("/", json=body, headers=headers)


def test_without_configuration_no_token_is_needed(world):
    client, calendar = world(check=False)
    assert push(client, None).status_code == 200 and calendar.calls == ["insert"]


def test_the_push_identity_token_is_accepted_and_certificates_are_cached(world, certs):
    client, calendar = world(check=True, certs_url=certs.url)
    before = certs.fetches
    assert push(client, id_token(), "ev-1").status_code == 200
    assert push(client, id_token(iss="accounts.google.com"), "ev-2").status_code == 200
    assert calendar.calls == ["insert", "insert"]
    assert certs.fetches - before == 1  # max-age honoured: one fetch for both pushes


@pytest.mark.parametrize("case,status", [
    ("missing", 401), ("not bearer", 401), ("garbage", 401), ("wrong audience", 401), ("expired", 401),
    ("forged", 401), ("wrong issuer", 401), ("email not verified", 401), ("no email", 403),
    ("other service account", 403), ("non-ascii", 401),
])
def test_anything_else_is_refused_and_does_no_work(world, certs, case, status):
    client, calendar = world(check=True, certs_url=certs.url)
    now = int(time.time())
    tokens = {
        "missing": None, "garbage": "a.b.c", "not bearer": None,
        "wrong audience": id_token(aud="https://someone-else.a.run.app"),
        "expired": id_token(iat=now - 7200, exp=now - 3600),
        "forged": id_token(key=OTHER_KEY),
        "wrong issuer": id_token(iss="https://evil.example"),
        "email not verified": id_token(email_verified=False),
        "no email": id_token(email=None),
        "other service account": id_token(email="someone@proj.iam.gserviceaccount.com"),
        "non-ascii": "\u00e9" * 20,
    }
    if case == "not bearer":
        r = client.post("/", json=push_envelope({"schema": 1, "webhook_id": "m", **payload()}),
                        headers={"Authorization": "Basic " + id_token()})
    else:
        r = push(client, tokens[case])
    assert r.status_code == status, r.data
    assert calendar.calls == []


def test_certificates_unavailable_is_a_retry_not_a_pass(world, certs):
    client, calendar = world(check=True, certs_url=certs.url)
    certs.failing = True
    try:
        assert push(client, id_token()).status_code == 503
    finally:
        certs.failing = False
    assert calendar.calls == []


def test_audience_and_service_account_go_together():
    from sync.config import Settings

    with pytest.raises(ConfigError):
        Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p", "PUSH_AUDIENCE": AUDIENCE})
    with pytest.raises(ConfigError):
        Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p", "PUSH_SERVICE_ACCOUNT": PUSH_SA})
    assert not Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p"}).push_audience  # the check is off


def test_deliver_notification_checks_the_same_push_identity(world, certs, monkeypatch):
    """The fourth function is fed by a push subscription too: no token, no delivery attempt."""
    from sync.kernel import notification as notes
    from sync.web import notifications

    world(check=True, certs_url=certs.url)
    posts: list[str] = []

    def delivered(raw, fields, c):
        posts.append("post")
        return 200, ("{}", 200, {}), 20

    monkeypatch.setattr(notifications, "_deliver", delivered)
    client = create_app("deliver_notification", "main.py").test_client()
    note = notes.snapshot_completed("acct", "u-1", "snp_1", {"created": 1})
    body = push_envelope(note.to_message())
    assert client.post("/", json=body).status_code == 401
    assert client.post("/", json=body, headers={"Authorization": f"Bearer {id_token(key=OTHER_KEY)}"}
                       ).status_code == 401
    assert client.post("/", json=body, headers={"Authorization": "Bearer " + id_token(
        email="someone@proj.iam.gserviceaccount.com")}).status_code == 403
    assert posts == []
    assert client.post("/", json=body, headers={"Authorization": f"Bearer {id_token()}"}).status_code == 200
    assert posts == ["post"]
