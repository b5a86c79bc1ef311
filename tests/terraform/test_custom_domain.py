"""The optional custom domain front (terraform/loadbalancer.tf, terraform/armor.tf), on and off.

No provider can be downloaded here, so nothing is planned: the HCL is parsed (python-hcl2), the
expressions that decide what exists and where traffic goes are evaluated by the real
`terraform console` in a provider-less module with the front off and on, the variables'
validation blocks are run by Terraform itself, and checkov scans the module with the front on
(test_terraform.py scans it with the defaults, i.e. off).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.terraform import test_terraform as base
from tests.terraform.test_terraform import TF, _expr, block, checkov_binary, resources, tf_env

tf = base.tf  # the parsed module (a fixture of test_terraform.py)

DOMAIN = "sync.evolutto.com.br"
EDGE_FILES = ("loadbalancer.tf", "armor.tf")
PUSH_TARGETS = ("sync_worker", "deliver_notification")


# --- evaluating the module's own expressions -------------------------------------------------------
def _hcl(value: Any) -> str:
    """python-hcl2's parsed value back to HCL text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_hcl(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_hcl(v)}" for k, v in value.items()) + "}"
    if _whole_interpolation(value):
        return value[2:-1]
    return json.dumps(value)


def _whole_interpolation(text: str) -> bool:
    if not (text.startswith("${") and text.endswith("}")):
        return False
    depth = 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i == len(text) - 1
    return False


def variable_block(name: str) -> str:
    """The variable's block exactly as written in variables.tf (type, default, validation)."""
    text = (TF / "variables.tf").read_text()
    match = re.search(rf'^variable "{name}" {{\n.*?^}}\n', text, re.S | re.M)
    assert match, name
    return match.group(0)


VARIABLES = ("custom_domain", "integrations_public_url", "edge_limits", "message_retention", "prefix", "region")


def evaluate(tf: dict[str, Any], tmp_path: Path, expression: str, variables: dict[str, Any] | None = None,
             locals_: tuple[str, ...] = (), fakes: dict[str, str] | None = None) -> Any:
    """`expression` in a module holding the real variable blocks (validation included), the named
    locals as written in terraform/, and fake values for what needs a provider."""
    module = tmp_path / "console"
    module.mkdir(exist_ok=True)
    body = [variable_block(v) for v in VARIABLES]
    assigns = [f"{name} = {_hcl(tf['locals'][name])}" for name in locals_]
    assigns += [f"{name} = {value}" for name, value in (fakes or {}).items()]
    body.append("locals {\n" + "\n".join(assigns) + "\n}\n")
    (module / "main.tf").write_text("\n".join(body))
    env = tf_env(tmp_path)
    subprocess.run(["terraform", "init", "-input=false"], cwd=module, env=env, check=True, capture_output=True)
    args = [f"-var={k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in (variables or {}).items()]
    out = subprocess.run(["terraform", "console", *args], cwd=module, env=env, capture_output=True, text=True,
                         input=f"jsonencode({expression})\n")
    # console answers 0 even when a variable fails its validation: the error is on stderr.
    errors = " ".join(re.sub(r"\x1b\[[0-9;]*m|[│╷╵]", " ", out.stderr).split())
    if out.returncode != 0 or "Error:" in errors:
        raise ValueError(errors)
    return json.loads(json.loads(out.stdout.strip().splitlines()[-1]))


def accepted(name: str, values: list[Any], tmp_path: Path) -> list[bool]:
    """Which values the variable's own validation blocks accept, in one terraform run: the block
    is copied once per value under a numbered name, and the refused ones are those named in the
    errors."""
    module = tmp_path / "validation"
    module.mkdir()
    original = variable_block(name)
    copies = [re.sub(rf"\bvar\.{name}\b", f"var.{name}_{i}", original.replace(f'variable "{name}"',
                                                                             f'variable "{name}_{i}"'))
              for i in range(len(values))]
    (module / "main.tf").write_text("\n".join(copies))
    env = tf_env(tmp_path)
    subprocess.run(["terraform", "init", "-input=false"], cwd=module, env=env, check=True, capture_output=True)
    args = [f"-var={name}_{i}={v if isinstance(v, str) else json.dumps(v)}" for i, v in enumerate(values)]
    out = subprocess.run(["terraform", "console", *args], cwd=module, env=env, capture_output=True, text=True,
                         input="1\n")
    refused = {int(i) for i in re.findall(rf"var\.{name}_(\d+)\b", out.stderr)}
    return [i not in refused for i in range(len(values))]


FAKE_URLS = {
    "project_number": '"123456789012"',
    "function_names": '{for k in ["handle_webhook", "sync_worker", "integrations", "deliver_notification"] : '
                      'k => "evolutto-sync-${replace(k, "_", "-")}"}',
}
URL_LOCALS = ("run_urls", "edge", "integrations_url", "oauth_redirect_uri", "public_ingress", "ingress",
              "edge_functions", "webhook_path", "armor_limits")


@pytest.fixture(scope="module")
def front(tf, tmp_path_factory) -> dict[str, dict[str, Any]]:
    """What the module decides with the front off (defaults) and on (custom_domain set)."""
    what = ("{edge = local.edge, integrations_url = local.integrations_url, redirect = local.oauth_redirect_uri, "
            "ingress = local.ingress, functions = local.edge_functions, limits = local.armor_limits, "
            f"webhook_url = {_webhook_url_expression(tf)}}}")
    return {state: evaluate(tf, tmp_path_factory.mktemp(state), what, variables, URL_LOCALS, FAKE_URLS)
            for state, variables in (("off", {}), ("on", {"custom_domain": DOMAIN}))}


def _webhook_url_expression(tf: dict[str, Any]) -> str:
    # handle_webhook's own uri needs the provider; its deterministic run.app URL stands in for it.
    return _expr(tf["output"]["webhook_url"]["value"]).replace(
        'google_cloudfunctions2_function.function["handle_webhook"].service_config[0].uri',
        "local.run_urls.handle_webhook")


# --- off by default, and nothing of it exists then ----------------------------------------------------
def edge_resources(tf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    import hcl2

    from tests.terraform.test_terraform import _clean

    found: dict[str, dict[str, Any]] = {}
    for name in EDGE_FILES:
        with (TF / name).open() as f:
            for group in _clean(hcl2.load(f)).get("resource", []):
                for rtype, named in group.items():
                    for rname, body in named.items():
                        found[f"{rtype}.{rname}"] = body
    return found


def test_the_front_is_off_by_default_and_every_piece_of_it_depends_on_the_domain(tf):
    assert tf["variable"]["custom_domain"]["default"] == ""
    assert tf["locals"]["edge"] == '${var.custom_domain != ""}'
    assert tf["locals"]["edge_functions"] == '${local.edge ? toset(["handle_webhook", "integrations"]) : toset([])}'
    found = edge_resources(tf)
    assert len(found) >= 14
    for address, body in found.items():
        assert body.get("count") == "${local.edge ? 1 : 0}" or body.get("for_each") == "${local.edge_functions}", \
            address
    # The Compute API (load balancing, Cloud Armor) is enabled only with the front.
    apis = resources(tf, "google_project_service")
    assert "compute.googleapis.com" not in apis["apis"]["for_each"]
    assert apis["edge"]["service"] == "compute.googleapis.com"
    assert apis["edge"]["depends_on"] == ["${google_project_service.apis}"]


def test_off_everything_stays_on_run_app(front):
    off = front["off"]
    assert off["edge"] is False and off["functions"] == []
    assert off["integrations_url"] == "https://evolutto-sync-integrations-123456789012.southamerica-east1.run.app"
    assert off["redirect"] == off["integrations_url"] + "/oauth/callback"
    assert off["webhook_url"] == "https://evolutto-sync-handle-webhook-123456789012.southamerica-east1.run.app"
    assert off["ingress"] == {"handle_webhook": "ALLOW_ALL", "integrations": "ALLOW_ALL",
                              "sync_worker": "ALLOW_INTERNAL_ONLY", "deliver_notification": "ALLOW_INTERNAL_ONLY"}


def test_on_the_domain_is_the_only_way_in_and_every_url_follows_it(front, tf):
    on = front["on"]
    assert on["edge"] is True and sorted(on["functions"]) == ["handle_webhook", "integrations"]
    assert on["integrations_url"] == f"https://{DOMAIN}"
    assert on["redirect"] == f"https://{DOMAIN}/oauth/callback"
    assert on["webhook_url"] == f"https://{DOMAIN}/webhook"
    # run.app stops answering the internet for the two public functions: Cloud Armor cannot be bypassed.
    assert on["ingress"] == {"handle_webhook": "ALLOW_INTERNAL_AND_GCLB", "integrations": "ALLOW_INTERNAL_AND_GCLB",
                             "sync_worker": "ALLOW_INTERNAL_ONLY", "deliver_notification": "ALLOW_INTERNAL_ONLY"}
    # PUBLIC_BASE_URL (links, redirects, Calendar channel addresses) and the redirect URI are that URL.
    assert tf["locals"]["sync_env"]["PUBLIC_BASE_URL"] == "${local.integrations_url}"
    assert tf["output"]["oauth_redirect_uri"]["value"] == "${local.oauth_redirect_uri}"
    settings = tf["output"]["oauth_client_settings"]["value"]
    assert settings["authorized_redirect_uri"] == "${local.oauth_redirect_uri}"
    assert settings["privacy_policy_url"] == "${local.integrations_url}/privacy"
    # The push targets keep their run.app URLs: Pub/Sub pushes there with OIDC, never through the front.
    for sub in resources(tf, "google_pubsub_subscription").values():
        if "push_config" in sub:
            assert "run_urls" in json.dumps(sub) or "push_env" in json.dumps(sub)
            assert "integrations_url" not in json.dumps(sub)


def test_the_scopes_shown_for_the_consent_screen_are_the_ones_the_code_asks_for(tf):
    from sync.adapters.calendar_api import SCOPES

    assert tf["locals"]["oauth_scopes"] == list(SCOPES)
    assert tf["output"]["oauth_client_settings"]["value"]["scopes"] == "${local.oauth_scopes}"


# --- validation of the new variables, run by Terraform ----------------------------------------------------
CUSTOM_DOMAINS = {
    "": True, DOMAIN: True, "calendar.example.com": True, "a-b.example.io": True,
    "https://sync.example.com": False, "sync.example.com/": False, "Sync.Example.com": False, "localhost": False,
    "sync.example.com.": False, "-x.example.com": False, "sync.example.com:8443": False,
    "evolutto-sync-integrations-1.southamerica-east1.run.app": False,
    "southamerica-east1-p.cloudfunctions.net": False,
}
EDGE_LIMITS = [
    ({}, True), ({"browser_per_minute": 60}, True), ({"calendar_quota_per_minute": 20000, "ban_seconds": 3600}, True),
    ({"browser_per_minute": 5}, False), ({"browser_per_minute": 12.5}, False), ({"ban_seconds": 10}, False),
    ({"calendar_quota_per_minute": 100}, False),
]
RETENTIONS = {"604800s": True, "600s": True, "86400s": True, "7d": False, "599s": False, "2678400s": False, "s": False}
PUBLIC_URLS = {"https://gw.example.com": True, "https://gw.example.com:8443": True, "https://gw.example.com/": False,
               "http://gw.example.com": False, "https://gw.example.com/sync": False}


@pytest.mark.parametrize("name,cases", [
    ("custom_domain", list(CUSTOM_DOMAINS.items())), ("edge_limits", EDGE_LIMITS),
    ("message_retention", list(RETENTIONS.items())), ("integrations_public_url", list(PUBLIC_URLS.items())),
])
def test_new_variables_are_validated(name, cases, tmp_path):
    values = [value for value, _ in cases]
    assert accepted(name, values, tmp_path) == [ok for _, ok in cases], values
    assert "validation" in variable_block(name)


def test_a_domain_and_a_gateway_url_together_are_refused_at_plan(tf, tmp_path):
    function = resources(tf, "google_cloudfunctions2_function")["function"]
    preconditions = block(function, "lifecycle")["precondition"]
    condition = next(_expr(p["condition"]) for p in preconditions if "custom_domain" in p["condition"])
    cases = [("", None, True), (DOMAIN, None, True), ("", "https://gw.example.com", True),
             (DOMAIN, "https://gw.example.com", False)]
    per_case = condition.replace("var.custom_domain", "c[0]").replace("var.integrations_public_url", "c[1]")
    verdicts = evaluate(tf, tmp_path, "[for c in " + _hcl([[d, u] for d, u, _ in cases]) + " : " + per_case + "]")
    assert verdicts == [ok for _, _, ok in cases]


# --- what the load balancer routes where ---------------------------------------------------------------------
def test_each_serverless_neg_names_its_function_cloud_run_service(tf):
    neg = resources(tf, "google_compute_region_network_endpoint_group")["edge"]
    assert neg["for_each"] == "${local.edge_functions}"
    assert neg["network_endpoint_type"] == "SERVERLESS" and neg["region"] == "${var.region}"
    # Gen2 functions are Cloud Run services: the cloud_run block, never cloud_function (1st gen).
    assert block(neg, "cloud_run")["service"] == \
        "${google_cloudfunctions2_function.function[each.key].service_config[0].service}"
    assert "cloud_function" not in neg and "app_engine" not in neg


def test_backends_are_external_managed_serverless_and_each_has_its_armor_policy(tf, front):
    backend = resources(tf, "google_compute_backend_service")["edge"]
    assert backend["for_each"] == "${local.edge_functions}"
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert block(backend, "backend")["group"] == "${google_compute_region_network_endpoint_group.edge[each.key].id}"
    # Serverless NEG backends take no health check or port name; no timeout is set.
    assert not {"health_checks", "port_name", "timeout_sec"} & set(backend)
    assert backend["security_policy"] == ('${each.key == "integrations" ? '
                                          'google_compute_security_policy.integrations[0].self_link : '
                                          'google_compute_security_policy.webhook[0].self_link}')
    assert sorted(front["on"]["functions"]) == ["handle_webhook", "integrations"]  # so "else" is the webhook
    assert block(backend, "log_config")["enable"] is True


def test_the_url_map_sends_the_webhook_path_to_handle_webhook_and_the_rest_to_integrations(tf):
    url_map = resources(tf, "google_compute_url_map")["edge"]
    integrations = '${google_compute_backend_service.edge["integrations"].id}'
    assert url_map["default_service"] == integrations
    assert block(url_map, "host_rule") == {"hosts": ["${var.custom_domain}"], "path_matcher": "sync"}
    matcher = block(url_map, "path_matcher")
    assert matcher["name"] == "sync" and matcher["default_service"] == integrations
    assert block(matcher, "path_rule") == {"paths": ["${local.webhook_path}"],
                                           "service": '${google_compute_backend_service.edge["handle_webhook"].id}'}
    assert tf["locals"]["webhook_path"] == "/webhook"
    # The push targets are nowhere in the front.
    text = json.dumps(edge_resources(tf))
    for target in PUSH_TARGETS:
        assert target not in text


def test_https_with_a_managed_certificate_and_plain_http_only_redirects(tf):
    cert = resources(tf, "google_compute_managed_ssl_certificate")["edge"]
    assert block(cert, "managed")["domains"] == ["${var.custom_domain}"]
    assert block(cert, "lifecycle")["create_before_destroy"] is True
    assert "sha256(var.custom_domain)" in cert["name"]  # a new domain, a new certificate beside the old
    policy = resources(tf, "google_compute_ssl_policy")["edge"]
    assert policy["profile"] == "MODERN" and policy["min_tls_version"] == "TLS_1_2"
    https = resources(tf, "google_compute_target_https_proxy")["edge"]
    assert https["ssl_certificates"] == ["${google_compute_managed_ssl_certificate.edge[0].id}"]
    assert https["ssl_policy"] == "${google_compute_ssl_policy.edge[0].id}"
    assert https["url_map"] == "${google_compute_url_map.edge[0].id}"
    rules = resources(tf, "google_compute_global_forwarding_rule")
    assert {r["port_range"]: r["target"] for r in rules.values()} == {
        "443": "${google_compute_target_https_proxy.edge[0].id}",
        "80": "${google_compute_target_http_proxy.edge_redirect[0].id}"}
    for rule in rules.values():
        assert rule["load_balancing_scheme"] == "EXTERNAL_MANAGED"
        assert rule["ip_address"] == "${google_compute_global_address.edge[0].address}"
    http = resources(tf, "google_compute_target_http_proxy")["edge_redirect"]
    assert http["url_map"] == "${google_compute_url_map.edge_redirect[0].id}"
    redirect = block(resources(tf, "google_compute_url_map")["edge_redirect"], "default_url_redirect")
    # 308 keeps a POST a POST; the query is kept so a connect link still works.
    assert redirect == {"https_redirect": True, "redirect_response_code": "PERMANENT_REDIRECT", "strip_query": False}
    assert "default_service" not in resources(tf, "google_compute_url_map")["edge_redirect"]


def test_no_credential_in_a_query_string_is_stored_from_the_request_logs(tf):
    # Always: Cloud Run's own request log of integrations (run.app or behind the load balancer).
    run = resources(tf, "google_logging_project_exclusion")["request_query_strings"]
    assert "count" not in run and "disabled" not in run
    assert run["filter"] == (
        'resource.type="cloud_run_revision" AND resource.labels.service_name="${local.function_names.integrations}" '
        'AND logName="projects/${var.project_id}/logs/run.googleapis.com%2Frequests" AND httpRequest.requestUrl:"?"')
    # With the front: the load balancer's entries too.
    exclusion = resources(tf, "google_logging_project_exclusion")["edge_query_strings"]
    assert exclusion["filter"] == (
        'resource.type="http_load_balancer" AND (resource.labels.url_map_name="${google_compute_url_map.edge[0].name}" '
        'OR resource.labels.url_map_name="${google_compute_url_map.edge_redirect[0].name}") '
        'AND httpRequest.requestUrl:"?"')
    assert "disabled" not in exclusion


def test_outputs_say_what_to_register_and_are_empty_without_the_front(tf):
    out = tf["output"]
    assert out["edge_ip_address"]["value"] == "${local.edge ? google_compute_global_address.edge[0].address : null}"
    assert out["dns_records"]["value"].startswith("${local.edge ? [{name = \"${var.custom_domain}.\", type = \"A\"")
    assert out["dns_records"]["value"].endswith(": []}")
    assert out["edge_certificate"]["value"] == \
        "${local.edge ? google_compute_managed_ssl_certificate.edge[0].name : null}"


# --- Cloud Armor --------------------------------------------------------------------------------------
def _rules(policy: dict[str, Any]) -> list[dict[str, Any]]:
    rules = list(policy.get("rule", []))
    for dynamic in policy.get("dynamic", []):
        rules.append({"dynamic": True, **block(dynamic["rule"], "content"),
                      "for_each": dynamic["rule"]["for_each"]})
    return rules


def _expression(rule: dict[str, Any]) -> str:
    match = block(rule, "match")
    return block(match, "expr")["expression"] if "expr" in match else "SRC_IPS:" + ",".join(
        block(match, "config")["src_ip_ranges"])


def _priority(rule: dict[str, Any], index: int = 0) -> int:
    value = rule["priority"]
    return 1000 + index if value == "${1000 + rule.key}" else int(value)


def test_integrations_policy_rate_limits_each_unauthenticated_route(tf):
    rules = [r for r in _rules(resources(tf, "google_compute_security_policy")["integrations"]) if not r.get("dynamic")]
    by_expression = {_expression(r): r for r in rules if r["action"] != "allow"}
    pings = by_expression["request.path == '/google/notifications'"]
    api = by_expression["request.path.startsWith('/api/connections/')"]
    [browser] = [r for r in rules if r["action"] == "rate_based_ban"]
    for rule, limit in ((pings, "notifications"), (api, "platform"), (browser, "browser")):
        options = block(rule, "rate_limit_options")
        assert options["conform_action"] == "allow" and options["exceed_action"] == "deny(429)"
        assert options["enforce_on_key"] == "IP"
        threshold = block(options, "rate_limit_threshold")
        assert threshold["interval_sec"] == 60 and threshold["count"] == f"${{local.armor_limits.{limit}}}"
    assert pings["action"] == api["action"] == "throttle"
    # /connect and the other browser routes: what is left after the machine routes, banned if it persists.
    ban = block(browser, "rate_limit_options")
    assert block(ban, "ban_threshold") == {"count": "${local.armor_limits.browser * 10}", "interval_sec": 600}
    assert ban["ban_duration_sec"] == "${var.edge_limits.ban_seconds}"
    assert _expression(browser) == "SRC_IPS:*"
    assert _priority(pings) < _priority(browser) and _priority(api) < _priority(browser)


def test_the_machine_routes_armor_names_are_the_routes_integrations_serves(tf):
    app = (Path(__file__).resolve().parents[2] / "sync" / "web" / "integrations.py").read_text()  # the router
    assert 'path == "/google/notifications"' in app and 'path.startswith("/api/connections/")' in app
    assert tf["locals"]["armor_machine_routes"] == \
        "request.path == '/google/notifications' || request.path.startsWith('/api/connections/')"
    assert tf["locals"]["armor_browser_routes"] == "!(${local.armor_machine_routes})"


def test_waf_runs_on_the_browser_routes_only_and_before_any_rate_rule(tf):
    policies = resources(tf, "google_compute_security_policy")
    rules = _rules(policies["integrations"])
    waf = [r for r in rules if r.get("dynamic")]
    assert len(waf) == 1 and waf[0]["for_each"] == "${local.armor_waf_sets}"
    assert waf[0]["action"] == "deny(403)" and "preview" not in waf[0]
    assert _expression(waf[0]) == ("${local.armor_browser_routes} && "
                                   "evaluatePreconfiguredWaf('${rule.value}', {'sensitivity': 1})")
    sets = tf["locals"]["armor_waf_sets"]
    assert {"sqli-v33-stable", "xss-v33-stable", "cve-canary"} <= set(sets)
    # Google's OAuth callback carries scope=https://… in its query: rfi would refuse every connect.
    assert not [s for s in sets if s.startswith("rfi")]
    waf_priorities = [_priority(waf[0], i) for i in range(len(sets))]
    rate_priorities = [_priority(r) for r in rules if r["action"] in ("throttle", "rate_based_ban")]
    assert max(waf_priorities) < min(rate_priorities)  # a throttle's allow would end the evaluation first
    # No body-inspecting rule where bodies are appointments: the webhook has no WAF rule at all.
    webhook = _rules(policies["webhook"])
    assert not [r for r in webhook if "evaluatePreconfigured" in json.dumps(r)]
    assert [r["action"] for r in webhook] == ["throttle", "allow"]  # and never a ban of the platform
    options = block(webhook[0], "rate_limit_options")
    assert block(options, "rate_limit_threshold")["count"] == "${local.armor_limits.platform}"
    assert options["enforce_on_key"] == "IP"


def test_rules_are_well_formed_for_cloud_armor(tf):
    for name, policy in resources(tf, "google_compute_security_policy").items():
        assert policy["type"] == "CLOUD_ARMOR"
        rules = _rules(policy)
        priorities = []
        for rule in rules:
            count = len(tf["locals"]["armor_waf_sets"]) if rule.get("dynamic") else 1
            priorities += [_priority(rule, i) for i in range(count)]
            descriptions = ([rule["description"].replace("${rule.value}", s) for s in tf["locals"]["armor_waf_sets"]]
                            if rule.get("dynamic") else [rule["description"]])
            assert all(len(d) <= 64 for d in descriptions), descriptions  # the API's limit
            if rule["action"] in ("throttle", "rate_based_ban"):
                assert "rate_limit_options" in rule
            else:
                assert "rate_limit_options" not in rule
        assert len(priorities) == len(set(priorities)), name
        default = [r for r in rules if _priority(r) == 2147483647]
        assert len(default) == 1 and default[0]["action"] == "allow" and _expression(default[0]) == "SRC_IPS:*"
        # The custom rules language allows at most five subexpressions per expression.
        for rule in rules:
            expression = _expression(rule).replace("${local.armor_browser_routes}",
                                                   tf["locals"]["armor_browser_routes"]).replace(
                "${local.armor_machine_routes}", tf["locals"]["armor_machine_routes"])
            assert len(re.findall(r"==|startsWith\(|evaluatePreconfigured", expression)) <= 5, expression


def test_limits_are_sized_from_the_calendar_quota(tf, front, tmp_path):
    assert front["on"]["limits"] == {"browser": 120, "notifications": 15000, "platform": 20000}
    raised = evaluate(tf, tmp_path, "local.armor_limits", {"edge_limits": {"calendar_quota_per_minute": 30000}},
                      ("armor_limits",))
    assert raised == {"browser": 120, "notifications": 45000, "platform": 60000}


def test_checkov_passes_with_the_front_on(tmp_path):
    tfvars = tmp_path / "edge.tfvars"
    tfvars.write_text(f'project_id = "evolutto-calendar-prod"\ncustom_domain = "{DOMAIN}"\n')
    out = subprocess.run(
        [checkov_binary(), "-d", str(TF), "--framework", "terraform", "--skip-download", "--var-file", str(tfvars),
         "-o", "json"], capture_output=True, text=True, env={**tf_env(tmp_path), "BC_SKIP_MAPPING": "TRUE"},
        timeout=300)
    report = json.loads(out.stdout)
    assert report["summary"]["failed"] == 0, [f"{c['check_id']} {c['resource']}"
                                              for c in report["results"]["failed_checks"]]
    assert report["summary"]["parsing_errors"] == 0
    passed = {(c["check_id"], c["resource"]) for c in report["results"]["passed_checks"]}
    assert ("CKV_GCP_4", "google_compute_ssl_policy.edge") in passed  # no weak ciphers
    assert ("CKV2_GCP_38", "google_compute_global_forwarding_rule.edge_http") in passed
    for skipped in report["results"]["skipped_checks"]:
        assert len(skipped["check_result"].get("suppress_comment", "")) > 20, skipped["check_id"]
