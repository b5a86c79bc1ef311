"""Static checks of terraform/ (no provider can be downloaded here): fmt, invariants parsed
from the HCL with python-hcl2, and checkov with zero failed checks."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}


def _clean(value: Any) -> Any:
    """python-hcl2 keeps HCL's quotes on keys and strings; drop them and the parser's markers."""
    if isinstance(value, dict):
        return {_unquote(k): _clean(v) for k, v in value.items()
                if k not in ("__is_block__", "__comments__", "__inline_comments__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return _unquote(value) if isinstance(value, str) else value


def _unquote(text: str) -> str:
    text = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text
    return text.replace('\\"', '"')


@pytest.fixture(scope="module")
def tf() -> dict[str, Any]:
    merged: dict[str, Any] = {"resource": {}, "data": {}, "variable": {}, "output": {}, "locals": {}}
    for path in sorted(TF.glob("*.tf")):
        with path.open() as f:
            doc = _clean(hcl2.load(f))
        for kind in ("resource", "data"):
            for block in doc.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        merged[kind].setdefault(rtype, {})[name] = body
        for kind in ("variable", "output"):
            for block in doc.get(kind, []):
                merged[kind].update(block)
        for block in doc.get("locals", []):
            merged["locals"].update(block)
    return merged


def resources(tf: dict[str, Any], rtype: str) -> dict[str, Any]:
    return tf["resource"].get(rtype, {})


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body[name]
    return value[0] if isinstance(value, list) else value


def tf_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "terraformrc"
    config.write_text("")
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "CHECKPOINT_DISABLE": "1"}


def test_terraform_fmt(tmp_path):
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not installed (https://developer.hashicorp.com/terraform/install)"
    out = subprocess.run([terraform, "fmt", "-check", "-recursive", "-diff", str(TF)], capture_output=True,
                         text=True, env=tf_env(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr


def test_provider_versions_are_ranges(tf):
    text = (TF / "versions.tf").read_text()
    assert 'source  = "hashicorp/google"' in text and 'version = ">= 6.0.0, < 8.0.0"' in text


def test_every_variable_is_typed_and_described(tf):
    for name, var in tf["variable"].items():
        assert var.get("type") and var.get("description"), name


FUNCTION_TARGETS = {"handle_webhook", "sync_worker", "integrations", "deliver_notification"}


def test_function_entry_points_match_main_py(tf):
    tree = ast.parse((ROOT / "main.py").read_text())
    targets = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
               and any("functions_framework.http" in ast.unparse(d) for d in node.decorator_list)}
    entry_points = tf["locals"]["entry_points"]
    assert set(entry_points.values()) == set(entry_points) == FUNCTION_TARGETS
    assert targets <= FUNCTION_TARGETS
    if FUNCTION_TARGETS - targets == {"deliver_notification"}:
        pytest.skip("main.py does not define deliver_notification yet (docs/notifications.md, Python side in progress)")
    assert targets == FUNCTION_TARGETS
    function = resources(tf, "google_cloudfunctions2_function")["function"]
    assert block(function, "build_config")["entry_point"] == "${each.value}"
    assert function["for_each"] == "${local.entry_points}"


def _http_targets(source: str) -> set[str]:
    tree = ast.parse(source)
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
            and any("functions_framework.http" in ast.unparse(d) for d in node.decorator_list)}


def test_plan_refuses_a_function_whose_target_main_py_lacks(tf, tmp_path):
    # A target main.py does not define builds, then never starts (functions-framework's
    # MissingTargetException), so the apply fails halfway through, after the database, the
    # secrets and the roles exist. The skip in the test above hides exactly that; the
    # precondition turns it into a plan-time error naming the target.
    function = resources(tf, "google_cloudfunctions2_function")["function"]
    precondition = block(block(function, "lifecycle"), "precondition")
    assert "${each.value}" in precondition["error_message"]
    condition = _expr(precondition["condition"])
    assert "each.value" in condition and "local.source_root" in condition
    targets = sorted(FUNCTION_TARGETS)
    for name, source in (
        ("real", (ROOT / "main.py").read_text()),
        ("complete", "import functions_framework\n\n" + "".join(
            f"\n@functions_framework.http\ndef {t}(request):\n    return t\n" for t in targets)),
        ("undecorated", "def deliver_notification(request):\n    pass\n"),
    ):
        root = tmp_path / name / "repo"
        root.mkdir(parents=True)
        (root / "main.py").write_text(source)
        verdicts = tf_console(tmp_path / name, f'source_root = "{root}"',
                              "{for t in " + json.dumps(targets) + " : t => "
                              + condition.replace("each.value", "t")
                              + "}")
        assert verdicts == {t: t in _http_targets(source) for t in targets}, name


PUSH_SUBSCRIPTIONS = {
    # resource name: (subscription name, topic resource, target function, dead-letter topic, attempts variable)
    "worker": ("${var.topic_name}-worker", "sync", "sync_worker", "dead_letter", "max_delivery_attempts"),
    "bulk_worker": ("${var.topic_name}-bulk-worker", "bulk", "sync_worker", "dead_letter",
                    "bulk_max_delivery_attempts"),
    "notifications_deliver": ("${var.topic_name}-notifications-deliver", "notifications", "deliver_notification",
                              "notifications_dead_letter", "notification_max_delivery_attempts"),
}


@pytest.mark.parametrize("key", sorted(PUSH_SUBSCRIPTIONS))
def test_push_subscriptions_are_ordered_pushed_with_oidc_retried_and_dead_lettered(tf, key):
    name, topic, target, dead_letter, attempts = PUSH_SUBSCRIPTIONS[key]
    sub = resources(tf, "google_pubsub_subscription")[key]
    assert sub["name"] == name
    assert sub["topic"] == f"${{google_pubsub_topic.{topic}.id}}"
    assert sub["enable_message_ordering"] is True
    push = block(sub, "push_config")
    oidc = block(push, "oidc_token")
    assert oidc["service_account_email"] == "${google_service_account.push.email}"
    # The audience is exactly what the target function verifies (PUSH_AUDIENCE), and so is the endpoint.
    assert oidc["audience"] == push["push_endpoint"] == f"${{local.push_env.{target}.PUSH_AUDIENCE}}"
    assert tf["locals"]["push_env"] == ('${{for k in ["sync_worker", "deliver_notification"] : k => '
                                        '{PUSH_AUDIENCE = local.run_urls[k], '
                                        'PUSH_SERVICE_ACCOUNT = google_service_account.push.email}}}')
    assert f"local.push_env.{target}" in tf["locals"]["function_env"][target]
    retry = block(sub, "retry_policy")
    assert retry["minimum_backoff"] == "${var.retry_backoff.minimum}"
    assert retry["maximum_backoff"] == "${var.retry_backoff.maximum}"
    dlq = block(sub, "dead_letter_policy")
    assert dlq["dead_letter_topic"] == f"${{google_pubsub_topic.{dead_letter}.id}}"
    assert dlq["max_delivery_attempts"] == f"${{var.{attempts}}}"
    assert sub["ack_deadline_seconds"] == f'${{var.functions["{target}"].timeout_seconds}}'
    assert block(sub, "expiration_policy")["ttl"] == ""
    assert "${google_cloudfunctions2_function.function}" in sub["depends_on"]


def test_bulk_lane_matches_the_live_lane(tf):
    subs = resources(tf, "google_pubsub_subscription")
    live, bulk = dict(subs["worker"]), dict(subs["bulk_worker"])
    # Pacing hands bulk work back to Pub/Sub routinely: it gets more attempts before dead-lettering.
    assert block(bulk, "dead_letter_policy")["max_delivery_attempts"] == "${var.bulk_max_delivery_attempts}"
    assert block(live, "dead_letter_policy")["max_delivery_attempts"] == "${var.max_delivery_attempts}"
    for body in (live, bulk):
        body.pop("name"), body.pop("topic"), body.pop("dead_letter_policy")
    assert live == bulk


def test_topics_and_inspection_subscriptions_follow_the_contract(tf):
    assert tf["locals"]["topics"] == {
        "sync": "${var.topic_name}",
        "dead_letter": "${var.topic_name}-dead-letter",
        "bulk": "${var.topic_name}-bulk",
        "notifications": "${var.topic_name}-notifications",
        "notifications_dead_letter": "${var.topic_name}-notifications-dead-letter",
    }
    topics = resources(tf, "google_pubsub_topic")
    assert set(topics) == set(tf["locals"]["topics"])
    for key, topic in topics.items():
        assert topic["name"] == f"${{local.topics.{key}}}"
        assert block(topic, "message_storage_policy")["allowed_persistence_regions"] == ["${var.region}"]
    subs = resources(tf, "google_pubsub_subscription")
    for key, topic in (("dead_letter_inspect", "dead_letter"),
                       ("notifications_dead_letter_inspect", "notifications_dead_letter")):
        inspect = subs[key]
        assert inspect["name"] == "${var.topic_name}-" + topic.replace("_", "-") + "-inspect"
        assert inspect["topic"] == f"${{google_pubsub_topic.{topic}.id}}"
        assert inspect["retain_acked_messages"] is True and inspect["enable_message_ordering"] is False
    assert tf["variable"]["topic_name"]["default"] == "calendar-sync"


def test_pubsub_service_agent_can_dead_letter_every_push_subscription(tf):
    agent = "${local.pubsub_agent}"
    publishes = resources(tf, "google_pubsub_topic_iam_member")["agent_publishes_dead_letters"]
    assert publishes["member"] == agent and publishes["role"] == "roles/pubsub.publisher"
    assert publishes["for_each"] == {"sync": "${google_pubsub_topic.dead_letter.name}",
                                     "notifications": "${google_pubsub_topic.notifications_dead_letter.name}"}
    acks = resources(tf, "google_pubsub_subscription_iam_member")["agent_acks_source"]
    assert acks["member"] == agent and acks["role"] == "roles/pubsub.subscriber"
    assert acks["for_each"] == {key: f"${{google_pubsub_subscription.{key}.name}}" for key in PUSH_SUBSCRIPTIONS}


def test_pubsub_service_agent_exists_before_it_is_granted_anything(tf):
    identity = resources(tf, "google_project_service_identity")["pubsub"]
    assert identity["service"] == "pubsub.googleapis.com" and identity["provider"] == "google-beta"
    agent = tf["locals"]["pubsub_agent"]
    assert "google_project_service_identity.pubsub.email" in agent
    assert "gcp-sa-pubsub.iam.gserviceaccount.com" in agent  # the documented name, as fallback only
    text = "\n".join(p.read_text() for p in TF.glob("*.tf"))
    assert text.count("gcp-sa-pubsub") == 1


def test_first_apply_on_a_fresh_project(tf):
    apis = set(resources(tf, "google_project_service")["apis"]["for_each"].removeprefix("${toset(")
               .removesuffix(")}").strip("[]").replace('"', "").replace(" ", "").split(","))
    assert {"cloudresourcemanager.googleapis.com", "iam.googleapis.com", "cloudscheduler.googleapis.com",
            "pubsub.googleapis.com", "secretmanager.googleapis.com"} <= apis
    # The users' OAuth grants belong to this project's client, so Calendar calls are this
    # project's: disabled, every one is a 403 accessNotConfigured, which the worker records as a
    # permanent failure of the event.
    assert "calendar-json.googleapis.com" in apis
    assert not {"eventarc.googleapis.com", "iamcredentials.googleapis.com"} & apis  # nothing uses them
    for name, sa in resources(tf, "google_service_account").items():
        assert "${google_project_service.apis}" in sa.get("depends_on", []), name
    for name, role in resources(tf, "google_project_iam_custom_role").items():
        assert "${google_project_service.apis}" in role.get("depends_on", []), name
    assert "${google_project_service.apis}" in tf["data"]["google_project"]["this"]["depends_on"]


_REF = re.compile(r"(?<![\w.])(data\.google_\w+\.\w+|google_\w+\.\w+|local\.\w+)")


def _dependency_graph(tf: dict[str, Any]) -> dict[str, set[str]]:
    """Every address -> the addresses its body refers to (references, depends_on, locals)."""
    graph: dict[str, set[str]] = {}
    for rtype, named in tf["resource"].items():
        for name, body in named.items():
            graph[f"{rtype}.{name}"] = set(_REF.findall(json.dumps(body)))
    for rtype, named in tf["data"].items():
        for name, body in named.items():
            graph[f"data.{rtype}.{name}"] = set(_REF.findall(json.dumps(body)))
    for name, value in tf["locals"].items():
        graph[f"local.{name}"] = set(_REF.findall(json.dumps(value)))
    return graph


def test_every_google_resource_waits_for_the_apis(tf):
    # On a fresh project nothing but Service Usage is guaranteed on, so every Google resource must
    # reach google_project_service.apis through a reference or depends_on, or Terraform creates it
    # in parallel with the enablement and the API answers SERVICE_DISABLED.
    graph = _dependency_graph(tf)
    target = "google_project_service.apis"

    def waits(address: str, seen: set[str]) -> bool:
        if address == target:
            return True
        seen.add(address)
        return any(waits(ref, seen) for ref in graph.get(address, ()) if ref not in seen)

    loose = [address for address in graph
             if address.startswith("google_") and address != target and not waits(address, set())]
    assert not loose, f"created without waiting for the APIs they need: {loose}"


def test_only_the_push_identity_invokes_the_push_targets(tf):
    grants = resources(tf, "google_cloud_run_service_iam_member")
    assert set(grants) == {"public", "push_invokes"}
    push = grants["push_invokes"]
    assert push["member"] == "${google_service_account.push.member}" and push["role"] == "roles/run.invoker"
    assert push["for_each"] == '${toset(["sync_worker", "deliver_notification"])}'
    public = grants["public"]
    assert public["member"] == "${var.public_invoker}" and public["role"] == "roles/run.invoker"
    assert public["for_each"] == '${var.public_invoker == "" ? toset([]) : local.public_functions}'
    assert tf["locals"]["public_functions"] == '${toset(["handle_webhook", "integrations"])}'
    # ALLOW_ALL, or ALLOW_INTERNAL_AND_GCLB behind the custom domain (tests/terraform/test_custom_domain.py).
    assert tf["locals"]["ingress"] == {"handle_webhook": "${local.public_ingress}",
                                       "integrations": "${local.public_ingress}",
                                       "sync_worker": "ALLOW_INTERNAL_ONLY",
                                       "deliver_notification": "ALLOW_INTERNAL_ONLY"}


def _regex_of(var: dict[str, Any]) -> str:
    condition = block(var, "validation")["condition"]
    match = re.search(r'regex\("(.*)", var\.', condition)
    assert match, condition
    return match.group(1).replace("\\\\", "\\")


def test_public_invoker_defaults_to_all_users_and_accepts_only_members_or_nothing(tf):
    var = tf["variable"]["public_invoker"]
    assert var["default"] == "allUsers"
    pattern = _regex_of(var)
    for ok in ("allUsers", "", "allAuthenticatedUsers", "group:platform@example.com",
               "serviceAccount:gw@p.iam.gserviceaccount.com", "domain:example.com"):
        assert re.fullmatch(pattern, ok), ok
    for bad in ("all-users", "platform@example.com", "user:"):
        assert not re.fullmatch(pattern, bad), bad


def test_one_service_account_per_function(tf):
    function = resources(tf, "google_cloudfunctions2_function")["function"]
    assert block(function, "service_config")["service_account_email"] == \
        "${google_service_account.function[each.key].email}"
    assert resources(tf, "google_service_account")["function"]["for_each"] == "${local.entry_points}"


def test_no_primitive_roles_and_project_grants_are_narrowed(tf):  # noqa: C901
    roles = []
    for rtype, named in tf["resource"].items():
        if rtype.endswith(("_iam_member", "_iam_binding", "_iam_policy")):
            for name, body in named.items():
                role = body.get("role", "")
                roles.append((rtype, name, role, body))
    assert roles
    assert not [r for r in roles if r[2] in PRIMITIVE_ROLES or "roles/owner" in str(r[3])]
    for rtype, name, role, body in roles:
        narrowable = role.startswith(("roles/secretmanager", "roles/datastore", "roles/storage",
                                      "${google_project_iam_custom_role"))
        if rtype == "google_project_iam_member" and narrowable and name != "integrations_token_creator":
            assert block(body, "condition")["expression"], f"{name} needs an IAM condition"
        if "roles/secretmanager.admin" in str(body) or "setIamPolicy" in str(body):
            raise AssertionError(f"{name} can change IAM policies")


# Every project-level grant, by principal: nothing else may appear (per-resource grants are
# checked in the tests of their resources).
PROJECT_GRANTS = {
    "firestore_user": ('${toset(["sync_worker", "integrations"])}', "roles/datastore.user"),
    "worker_token_reader": ("sync_worker", "roles/secretmanager.secretAccessor"),
    "worker_token_remover": ("sync_worker", "${google_project_iam_custom_role.token_secret_remover.id}"),
    "integrations_token_creator": ("integrations", "${google_project_iam_custom_role.token_secret_creator.id}"),
    "integrations_token_keeper": ("integrations", "${google_project_iam_custom_role.token_secret_keeper.id}"),
    "build": ("build", '${toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])}'),
    "build_reads_gcf_sources": ("build", "roles/storage.objectViewer"),
}


def test_project_level_grants_are_exactly_the_listed_ones(tf):
    grants = resources(tf, "google_project_iam_member")
    assert set(grants) == set(PROJECT_GRANTS)
    for name, (who, role) in PROJECT_GRANTS.items():
        g = grants[name]
        if who.startswith("${"):
            assert g["for_each"] == who and g["role"] == role
        elif who == "build":
            assert g["member"] == "${google_service_account.build.member}"
            assert g.get("for_each", g["role"]) == role
        else:
            assert g["member"] == f'${{google_service_account.function["{who}"].member}}' and g["role"] == role
    roles = resources(tf, "google_project_iam_custom_role")
    assert roles["token_secret_creator"]["permissions"] == ["secretmanager.secrets.create"]
    assert roles["token_secret_remover"]["permissions"] == ["secretmanager.secrets.delete"]
    assert "secretmanager.secrets.create" not in str(roles["token_secret_keeper"])
    assert tf["locals"]["token_secret_permissions"].startswith("${sort(concat(values(local.token_secret_calls)")


def test_secret_creation_is_unconditioned_and_everything_else_on_tokens_is_conditioned(tf):
    grants = resources(tf, "google_project_iam_member")
    assert "condition" not in grants["integrations_token_creator"]
    for name in ("worker_token_reader", "worker_token_remover", "integrations_token_keeper"):
        assert block(grants[name], "condition")["expression"] == \
            'resource.name.startsWith("${local.token_secret_prefix}")'


def test_token_secret_role_covers_every_secret_manager_call_the_vault_makes(tf):
    source = (ROOT / "sync" / "adapters" / "secrets.py").read_text()
    calls = set(re.findall(r"self\.client\.(\w+)\(", source))
    covered = set(tf["locals"]["token_secret_calls"]) | {"create_secret"}  # create: its own role
    assert calls and calls <= covered, calls - covered


# What roles/secretmanager.secretAccessor holds (Secret Manager, "Access control with IAM").
SECRET_ACCESSOR_PERMISSIONS = {"secretmanager.versions.access"}


def _vault_client_calls() -> dict[str, set[str]]:
    """SecretManagerVault method -> the Secret Manager client calls its body makes."""
    tree = ast.parse((ROOT / "sync" / "adapters" / "secrets.py").read_text())
    vault = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SecretManagerVault")
    return {m.name: set(re.findall(r"self\.client\.(\w+)\(", ast.unparse(m)))
            for m in vault.body if isinstance(m, ast.FunctionDef)}


def test_worker_may_do_to_token_secrets_whatever_its_code_paths_do(tf):
    # The worker reads tokens (Calendar sessions) and finishes disconnects handed to the bulk
    # lane, which destroy the user's token secret (sync/connections/removal.py, run on
    # sync_worker by the disconnect's job in sync/connections/disconnect.py). A call its grants do not cover is a
    # PermissionDenied in the cloud only: the emulators and the local vault check nothing.
    calls = _vault_client_calls()
    used = set()
    for module in ("sync/adapters/calendar_api.py", "sync/connections/removal.py"):
        used |= set(re.findall(r"self\.vault\.(\w+)\(", (ROOT / module).read_text()))
    assert {"read_refresh_token", "destroy"} <= used
    permission = tf["locals"]["token_secret_calls"]
    needed = {permission[call] for method in used for call in calls[method]}
    roles = resources(tf, "google_project_iam_custom_role")
    granted = SECRET_ACCESSOR_PERMISSIONS | set(roles["token_secret_remover"]["permissions"])
    assert needed <= granted, needed - granted
    assert not {"secretmanager.versions.add", "secretmanager.secrets.create"} & granted  # it never writes one


def test_deliver_notification_reads_one_secret_and_has_no_other_grant(tf):
    readers = {s for s, fns in tf["locals"]["config_secrets"].items() if "deliver_notification" in fns}
    assert readers == {"platform-webhook-secret"}
    for rtype, named in tf["resource"].items():
        if not rtype.endswith("_iam_member"):
            continue
        for name, body in named.items():
            text = json.dumps(body)
            if name == "accessor":
                continue  # driven by config_secrets, checked above
            assert "deliver_notification" not in text or name == "push_invokes", f"{rtype}.{name}"
    assert "deliver_notification" not in json.dumps(tf["locals"]["publishers"])


def test_each_secret_is_readable_only_by_the_functions_that_need_it(tf):
    assert tf["locals"]["config_secrets"] == {
        "webhook-signing-secret": ["handle_webhook"],
        "link-signing-secret": ["integrations"],
        "oauth-client-id": ["sync_worker", "integrations"],
        "oauth-client-secret": ["sync_worker", "integrations"],
        "platform-webhook-secret": ["deliver_notification"],
    }
    accessors = resources(tf, "google_secret_manager_secret_iam_member")
    assert list(accessors) == ["accessor"]
    assert accessors["accessor"]["role"] == "roles/secretmanager.secretAccessor"
    assert tf["locals"]["token_secret_prefix"].endswith("/secrets/calendar-token-")


def test_secret_names_match_what_the_code_reads():
    from sync.adapters.secrets import TOKEN_SECRET_PREFIX

    assert TOKEN_SECRET_PREFIX == "calendar-token-"
    for env_name in ("WEBHOOK_SIGNING_SECRET", "LINK_SIGNING_SECRET", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET",
                     "PLATFORM_WEBHOOK_SECRET"):
        assert f'"{env_name.lower().replace("_", "-")}"' in (TF / "secrets.tf").read_text()


def test_firestore_is_native_with_pitr_delete_protection_and_state_ttl(tf):
    db = resources(tf, "google_firestore_database")["default"]
    assert db["type"] == "FIRESTORE_NATIVE"
    assert db["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
    assert db["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    assert tf["locals"]["ttl_fields"] == {
        "oauth_states": "expires_at", "flow_sessions": "expires_at",
        # Snapshots: TTL does not delete subcollections, so one policy per collection group.
        "snapshots": "purge_at", "snapshot_events": "purge_at", "snapshot_results": "purge_at",
        "snapshot_shards": "purge_at", "snapshot_pages": "purge_at", "calendar_moves": "purge_at",
        "drift_channels": "expires_at",
    }
    fields = resources(tf, "google_firestore_field")
    assert set(fields) == {"ttl", "unindexed"}
    ttl = fields
    assert ttl["ttl"]["for_each"] == "${local.ttl_fields}"
    assert ttl["ttl"]["collection"] == "${each.key}" and ttl["ttl"]["field"] == "${each.value}"
    assert "ttl_config" in ttl["ttl"]


def test_event_bodies_on_mappings_are_not_indexed(tf):
    unindexed = resources(tf, "google_firestore_field")["unindexed"]
    assert tf["locals"]["unindexed_event_fields"] == '${toset(["parked", "applied"])}'
    assert unindexed["collection"] == "events" and unindexed["field"] == "${each.key}"
    assert block(unindexed, "index_config") == {} and "ttl_config" not in unindexed


def tf_console(tmp_path: Path, locals_hcl: str, expression: str) -> Any:
    """Evaluate an expression with terraform console in a provider-less module (works offline)."""
    module = tmp_path / "console"
    module.mkdir()
    (module / "main.tf").write_text(f"locals {{\n{locals_hcl}\n}}\n")
    env = tf_env(tmp_path)
    subprocess.run(["terraform", "init", "-input=false"], cwd=module, env=env, check=True, capture_output=True)
    out = subprocess.run(["terraform", "console"], cwd=module, env=env, input=f"jsonencode({expression})\n",
                         capture_output=True, text=True, check=True)
    return json.loads(json.loads(out.stdout))


def _expr(value: str) -> str:
    assert value.startswith("${") and value.endswith("}")
    return value[2:-1]


def archive_selection(tf: dict[str, Any], tmp_path: Path, root: Path) -> list[str]:
    return tf_console(tmp_path, f'source_root = "{root}"\nsource_files = {_expr(tf["locals"]["source_files"])}',
                      "local.source_files")


def test_source_archive_is_exactly_main_requirements_and_the_sync_package(tf, tmp_path):
    tree = tmp_path / "repo"
    for rel in ("main.py", "requirements.txt", "requirements-dev.txt", "README.md", "sync/__init__.py",
                "sync/adapters/x.py", "sync/templates/page.html", "sync/__pycache__/x.cpython-311.pyc",
                "sync/adapters/__pycache__/x.cpython-311.pyc", "sync/.DS_Store", "tests/test_x.py",
                ".venv/lib/site.py", "local/standin.py", "terraform/.build/source.zip", "terraform/main.tf"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text("x")
    assert archive_selection(tf, tmp_path, tree) == [
        "main.py", "requirements.txt", "sync/__init__.py", "sync/adapters/x.py", "sync/templates/page.html"]

    (tmp_path / "real").mkdir()
    real = archive_selection(tf, tmp_path / "real", ROOT)
    shipped = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "sync").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith("."))
    assert real == sorted(["main.py", "requirements.txt", *shipped])


def test_source_archive_is_built_from_sources_outside_its_own_output(tf):
    archive = tf["data"]["archive_file"]["source"]
    assert "source_dir" not in archive and "excludes" not in archive
    assert archive["dynamic"][0]["source"]["for_each"] == "${toset(local.source_files)}"
    assert archive["output_path"] == "${path.module}/.build/source.zip"
    assert archive["output_file_mode"] == "0644"  # the same bytes, so the same object, on every machine


def test_builds_can_read_the_gcf_sources_copy_after_iam_propagates(tf):
    grant = resources(tf, "google_project_iam_member")["build_reads_gcf_sources"]
    assert grant["member"] == "${google_service_account.build.member}"
    assert grant["role"] == "roles/storage.objectViewer"
    assert block(grant, "condition")["expression"] == (
        'resource.name == "projects/_/buckets/${local.gcf_sources_bucket}" || '
        'resource.name.startsWith("projects/_/buckets/${local.gcf_sources_bucket}/")')
    assert tf["locals"]["gcf_sources_bucket"] == "gcf-v2-sources-${local.project_number}-${var.region}"
    sleep = resources(tf, "time_sleep")["build_iam_propagation"]
    assert sleep["create_duration"] == "60s"
    assert set(sleep["depends_on"]) == {"${google_project_iam_member.build}",
                                        "${google_project_iam_member.build_reads_gcf_sources}",
                                        "${google_storage_bucket_iam_member.build_reads_source}"}
    function = resources(tf, "google_cloudfunctions2_function")["function"]
    assert "${time_sleep.build_iam_propagation}" in function["depends_on"]
    text = (TF / "versions.tf").read_text()
    assert 'source  = "hashicorp/time"' in text and 'source  = "hashicorp/google-beta"' in text


def test_monitoring_alerts_and_outputs(tf):
    alerts = resources(tf, "google_monitoring_alert_policy")
    filters = " ".join(block(a, "conditions")["condition_threshold"][0]["filter"]
                       if isinstance(block(a, "conditions")["condition_threshold"], list)
                       else block(a, "conditions")["condition_threshold"]["filter"] for a in alerts.values())
    assert "num_undelivered_messages" in filters and "oldest_unacked_message_age" in filters
    assert all(a["notification_channels"] == "${var.notification_channels}" for a in alerts.values())
    assert "sync_outcomes" in resources(tf, "google_logging_metric")
    assert {"webhook_url", "integrations_url", "topic", "dead_letter_topic"} <= set(tf["output"])


def checkov_binary() -> str:
    candidate = os.environ.get("CHECKOV") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    assert Path(candidate).exists(), "checkov is not installed: `make test` installs it into .venv-checkov"
    return candidate


def test_checkov_passes_with_every_skip_justified(tmp_path):
    out = subprocess.run(
        [checkov_binary(), "-d", str(TF), "--framework", "terraform", "--skip-download", "-o", "json"],
        capture_output=True, text=True, env={**tf_env(tmp_path), "BC_SKIP_MAPPING": "TRUE"}, timeout=300)
    report = json.loads(out.stdout)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0 and summary["passed"] > 30
    for skipped in report["results"]["skipped_checks"]:
        comment = skipped["check_result"].get("suppress_comment", "")
        assert len(comment) > 20, f"{skipped['check_id']} on {skipped['resource']} has no real justification"
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "checkov-summary.json").write_text(json.dumps(summary, indent=2))


# --- Environment of each function (docs/configuration.md#environment; security items of issue 13). -
def test_each_function_gets_exactly_its_environment(tf):
    env = tf["locals"]["function_env"]
    assert env["handle_webhook"] == {}
    assert env["sync_worker"] == ('${merge(local.sync_env, local.push_env.sync_worker, {LEASE_SECONDS = '
                                  'tostring(var.functions["sync_worker"].timeout_seconds + 60), '
                                  'USAGE_LIMIT_RETRY_SECONDS = tostring(var.usage_limit_retry_seconds)})}')
    assert env["integrations"] == ('${merge(local.sync_env, {ALLOWED_RETURN_ORIGINS = '
                                   'join(",", var.allowed_return_origins), '
                                   'QUEUE_RETENTION_SECONDS = trimsuffix(var.message_retention, "s")})}')
    assert env["deliver_notification"] == ('${merge(local.push_env.deliver_notification, '
                                           '{PLATFORM_WEBHOOK_URL = var.platform_webhook_url})}')
    assert tf["locals"]["sync_env"] == {
        "SEND_UPDATES": "${var.send_updates}",
        "PUBLIC_BASE_URL": "${local.integrations_url}",  # the worker opens channels to <it>/google/notifications
        "PLATFORM_WEBHOOK_URL": "${var.platform_webhook_url}",
        "DRIFT_POLICY": "${var.drift_policy}",
        "DRIFT_SCAN_MINUTES": "${tostring(var.drift_scan_minutes)}",
        "SECRET_REPLICA_LOCATIONS": '${join(",", local.secret_locations)}',
    }
    text = "\n".join(p.read_text() for p in TF.glob("*.tf"))
    assert "MAX_VERSION_SKEW_HOURS" not in text
    function = resources(tf, "google_cloudfunctions2_function")["function"]
    assert block(function, "service_config")["environment_variables"] == \
        "${merge(local.common_env, local.function_env[each.key])}"


def test_urls_are_the_functions_own_deterministic_run_app_urls(tf, tmp_path):
    locals_ = tf["locals"]
    assert locals_["integrations_url"] == ('${local.edge ? "https://${var.custom_domain}" : '
                                           'coalesce(var.integrations_public_url, local.run_urls.integrations)}')
    assert locals_["oauth_redirect_uri"] == "${local.integrations_url}/oauth/callback"
    assert "cloudfunctions.net" not in json.dumps(locals_)
    run_urls = _expr(locals_["run_urls"]).replace("var.region", '"southamerica-east1"')
    hcl = "\n".join([
        'function_names = {for k in ["integrations", "deliver_notification"] :',
        '  k => "evolutto-sync-${replace(k, "_", "-")}"}',
        'project_number = "123456789012"',
        f"run_urls = {run_urls}",
    ])
    urls = tf_console(tmp_path, hcl, "local.run_urls")
    assert urls == {
        "integrations": "https://evolutto-sync-integrations-123456789012.southamerica-east1.run.app",
        "deliver_notification": "https://evolutto-sync-deliver-notification-123456789012.southamerica-east1.run.app",
    }
    # Cloud Run gives the deterministic URL only when SERVICE-PROJECT_NUMBER fits a DNS label.
    longest_prefix = 19
    assert longest_prefix + len("-deliver-notification") + 1 + 12 <= 63
    assert "{1,17}" in block(tf["variable"]["prefix"], "validation")["condition"]
    assert tf["output"]["oauth_redirect_uri"]["value"] == "${local.oauth_redirect_uri}"


def test_secret_replicas_follow_one_variable_for_config_and_token_secrets(tf):
    assert tf["locals"]["secret_locations"] == "${coalescelist(var.secret_locations, [var.region])}"
    secret = resources(tf, "google_secret_manager_secret")["config"]
    replicas = block(block(secret, "replication"), "user_managed")["dynamic"][0]["replicas"]
    assert replicas["for_each"] == "${local.secret_locations}"
    assert "automatic" not in json.dumps(secret)


# --- Variables of the new features. ---------------------------------------------------------------
def test_feature_variables_are_validated(tf):
    variables = tf["variable"]
    assert variables["drift_policy"]["default"] == "restore"
    assert 'contains(["restore", "report", "off"], var.drift_policy)' in \
        block(variables["drift_policy"], "validation")["condition"]
    assert variables["drift_scan_minutes"]["default"] == 360
    assert variables["usage_limit_retry_seconds"]["default"] == 900
    assert "<= 7200" in block(variables["usage_limit_retry_seconds"], "validation")["condition"]
    assert "var.drift_scan_minutes >= 15" in block(variables["drift_scan_minutes"], "validation")["condition"]
    assert variables["maintenance_schedule"]["default"] == "*/15 * * * *"
    assert variables["platform_webhook_url"]["default"] == ""
    pattern = _regex_of(variables["platform_webhook_url"])
    assert re.fullmatch(pattern, "https://platform.example.com/hooks/calendar")
    assert not re.fullmatch(pattern, "http://platform.example.com/hooks")
    assert variables["notification_max_delivery_attempts"]["default"] == 10
    assert variables["secret_locations"]["default"] == []
    sizing = variables["functions"]["default"]
    assert set(sizing) == FUNCTION_TARGETS


# --- The maintenance tick (docs/drift.md). ---------------------------------------------------------
def test_maintenance_job_publishes_the_tick_to_the_bulk_topic(tf):
    job = resources(tf, "google_cloud_scheduler_job")["maintenance"]
    assert job["name"] == "${var.prefix}-maintenance"
    assert job["region"] == "${var.region}"
    assert job["schedule"] == "${var.maintenance_schedule}"
    assert "count" not in job and "for_each" not in job  # runs whatever DRIFT_POLICY says
    target = block(job, "pubsub_target")
    assert target["topic_name"] == "${google_pubsub_topic.bulk.id}"
    assert target["data"] == "${base64encode(local.maintenance_message)}"
    assert json.loads(tf["locals"]["maintenance_message"]) == {"schema": 1, "kind": "maintenance"}
    # The Cloud Scheduler service agent publishes through its own project role; nobody else gets publisher.
    publishers = tf["locals"]["publishers"]
    assert publishers == {"sync": ["handle_webhook", "integrations"], "bulk": ["integrations", "sync_worker"],
                          "notifications": ["integrations", "sync_worker"]}
    assert "gcp-sa-cloudscheduler" not in json.dumps(tf["resource"])


def test_monitoring_covers_the_bulk_lane_and_notifications(tf):
    alerts = resources(tf, "google_monitoring_alert_policy")
    def filter_of(a: dict[str, Any]) -> str:
        return block(block(a, "conditions"), "condition_threshold")["filter"]
    assert "notifications_dead_letter_inspect.name" in filter_of(alerts["notification_dead_letters"])
    assert "num_undelivered_messages" in filter_of(alerts["notification_dead_letters"])
    assert "notifications_deliver.name" in filter_of(alerts["notification_backlog_age"])
    assert "bulk_worker.name" in filter_of(alerts["bulk_backlog_age"])
    assert {"deliver_notification_url", "topics", "notifications_dead_letter_subscription",
            "maintenance_job", "oauth_redirect_uri"} <= set(tf["output"])
