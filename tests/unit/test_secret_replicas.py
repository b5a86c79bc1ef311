"""Token secrets are created with the replicas Terraform gives the configuration secrets."""

from typing import Any

from sync.adapters.secrets import SecretManagerVault
from sync.config import Settings


class RecordingClient:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create_secret(self, request: dict[str, Any]) -> None:
        self.created.append(request)

    def add_secret_version(self, request: dict[str, Any]) -> Any:
        return type("Version", (), {"name": request["parent"] + "/versions/1"})()


def test_secret_replica_locations_are_read_from_the_environment():
    env = {"GOOGLE_CLOUD_PROJECT": "p", "SECRET_REPLICA_LOCATIONS": "southamerica-east1, us-east1,"}
    assert Settings.from_env(env).secret_replica_locations == ("southamerica-east1", "us-east1")
    assert Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p"}).secret_replica_locations == ()


def test_token_secrets_are_replicated_where_configured():
    client = RecordingClient()
    SecretManagerVault("p", client, ("southamerica-east1", "us-east1")).store_refresh_token("acme/u-1", "1//t")
    assert client.created[0]["secret"]["replication"] == {
        "user_managed": {"replicas": [{"location": "southamerica-east1"}, {"location": "us-east1"}]}}


def test_token_secrets_replicate_automatically_without_locations():
    client = RecordingClient()
    SecretManagerVault("p", client).store_refresh_token("acme/u-1", "1//t")
    assert client.created[0]["secret"]["replication"] == {"automatic": {}}
