"""The Secret Manager backend through the real client library (REST transport) against a stand-in."""

import pytest

from local.secretmanager import SecretManagerServer
from sync import bootstrap
from sync.adapters.secrets import ConfigSecrets, token_secret_id
from sync.kernel.errors import AuthRevoked, ConfigError
from sync.kernel.model import connection_key

pytestmark = pytest.mark.integration


@pytest.fixture
def server():
    s = SecretManagerServer().start()
    yield s
    s.stop()


@pytest.fixture
def vault(server, monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-1")
    monkeypatch.setenv("SECRETS_BACKEND", "secret-manager")
    monkeypatch.setenv("SECRET_MANAGER_ENDPOINT", server.url)
    for name in ("WEBHOOK_SIGNING_SECRET", "LINK_SIGNING_SECRET", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    bootstrap.reset()
    yield bootstrap.container().vault
    bootstrap.reset()


def test_refresh_tokens_are_secret_versions_and_firestore_keeps_only_the_name(vault, server):
    key = connection_key("acme", "u-42")
    ref = vault.store_refresh_token(key, "1//first-token")
    assert ref == f"projects/proj-1/secrets/{token_secret_id(key)}/versions/1"
    assert "first-token" not in ref and "acme" not in ref
    assert vault.read_refresh_token(ref) == "1//first-token"
    assert server.app.secrets[ref.split("/versions/")[0]]["labels"] == {"purpose": "calendar-sync-token"}


def test_a_reconnect_adds_a_version_and_destroys_the_old_one(vault):
    key = connection_key("acme", "u-43")
    first = vault.store_refresh_token(key, "1//first")
    second = vault.store_refresh_token(key, "1//second")
    assert vault.read_refresh_token(first) == "1//first"  # still usable until the new one is in use
    vault.retire_others(second)
    assert second.endswith("/versions/2")
    assert vault.read_refresh_token(second) == "1//second"
    with pytest.raises(AuthRevoked):
        vault.read_refresh_token(first)


def test_destroy_deletes_the_whole_secret(vault):
    ref = vault.store_refresh_token(connection_key("acme", "u-44"), "1//x")
    vault.destroy(ref)
    with pytest.raises(AuthRevoked):
        vault.read_refresh_token(ref)
    vault.destroy(ref)  # twice is fine


def test_config_secrets_from_environment_first_then_secret_manager(vault, server, monkeypatch):
    server.app.put("proj-1", "webhook-signing-secret", "whsec_from_secret_manager")
    secrets = bootstrap.container().secrets
    assert secrets.get("WEBHOOK_SIGNING_SECRET") == "whsec_from_secret_manager"
    with pytest.raises(ConfigError):
        secrets.get("LINK_SIGNING_SECRET")
    mounted = ConfigSecrets({"WEBHOOK_SIGNING_SECRET": "whsec_mounted"}, "secret-manager", vault)
    assert mounted.get("WEBHOOK_SIGNING_SECRET") == "whsec_mounted"


def test_config_secrets_are_cached(vault, server):
    server.app.put("proj-1", "oauth-client-id", "client-1")
    secrets = bootstrap.container().secrets
    for _ in range(5):
        assert secrets.get("OAUTH_CLIENT_ID") == "client-1"
    assert server.app.accesses == 1
