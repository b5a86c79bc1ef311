"""/privacy (sync/web/privacy.py) and the inventory it is rendered from
(sync/web/stored_data.py): every collection the code writes, every TTL Terraform sets,
every duration the code runs with and every scope it asks for is on the page, in both languages.
The fields of the stored documents are checked against real traffic by
tests/e2e/test_zz_stored_data_inventory.py."""

from __future__ import annotations

import ast
import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import hcl2
import pytest

from sync.config import Settings
from sync.kernel.model import SCOPES
from sync.web import privacy, stored_data
from sync.web.privacy import LIMITED_USE, render
from sync.web.stored_data import FIRESTORE, inventory, shown

ROOT = Path(__file__).resolve().parents[2]
SYNC = ROOT / "sync"


def settings(**env: str) -> Settings:
    return Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p", "PUBLIC_BASE_URL": "https://sync.example.com", **env})


def text(page: str) -> str:
    """What a reader sees: tags dropped, entities decoded, whitespace folded."""
    page = re.sub(r"<style[^>]*>.*?</style>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def section(page: str, key: str) -> str:
    match = re.search(rf'<section id="stored-{key}">(.*?)</section>', page, re.S)
    assert match, key
    return text(match.group(1))


# --- what the code writes ---------------------------------------------------------------------------
def _constants(tree: ast.Module) -> dict[str, str]:
    return {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for t in node.targets if isinstance(t, ast.Name)}


def collections_in_code() -> set[str]:
    """Every collection id passed to .collection(...) anywhere in sync/, constants resolved
    across modules (names imported from another module are looked up there)."""
    modules = {p: ast.parse(p.read_text()) for p in SYNC.rglob("*.py")}
    known: dict[str, str] = {}
    for tree in modules.values():
        known.update(_constants(tree))
    found: set[str] = set()
    for path, tree in modules.items():
        # `for part in (A, B): ….collection(part)`: the loop variable stands for each constant
        loops = {node.target.id: [e.id for e in node.iter.elts if isinstance(e, ast.Name)]
                 for node in ast.walk(tree) if isinstance(node, ast.For) and isinstance(node.target, ast.Name)
                 and isinstance(node.iter, ast.Tuple)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "collection":
                [arg] = node.args
                if isinstance(arg, ast.Constant):
                    found.add(arg.value)
                    continue
                assert isinstance(arg, ast.Name), f"{path}: {ast.unparse(node)}"
                names = loops.get(arg.id, [arg.id])
                assert names and all(n in known for n in names), f"{path}: {ast.unparse(node)}"
                found.update(known[n] for n in names)
    return found


def test_every_collection_the_code_writes_is_in_the_inventory_and_none_more():
    listed = {c for item in inventory(settings()) for c in item.collections}
    code = collections_in_code()
    assert code, "no .collection() call found: the scan is broken"
    assert listed == code, {"not on the page": code - listed, "listed but unused": listed - code}


def test_the_inventorys_names_are_the_codes_constants():
    from sync.adapters import secrets
    from sync.adapters.firestore import base as firestore_store
    from sync.adapters.firestore import connections as firestore_integrations
    from sync.adapters.firestore import disconnects, drift, flow_sessions, outbox, snapshots
    from sync.adapters.firestore import moves as move_store
    from sync.moves import service as move

    names = {
        "connection": {firestore_store.CONNECTIONS}, "mapping": {firestore_store.EVENTS},
        "event_bodies": {firestore_store.EVENTS}, "oauth_state": {firestore_integrations.OAUTH_STATES},
        "flow_session": {flow_sessions.FLOW_SESSIONS}, "drift": {drift.DRIFT, drift.PENDING},
        "drift_channel": {drift.CHANNELS}, "drift_meta": {drift.META}, "notification": {outbox.OUTBOX},
        "snapshot": {snapshots.SNAPSHOTS, snapshots.PAGES, snapshots.SNAPSHOT_EVENTS, snapshots.RESULTS,
                     snapshots.SHARDS},
        "calendar_move": {move_store.MOVES}, "local_token": {secrets.LOCAL_TOKENS},
        "disconnect": {disconnects.DISCONNECTS},
    }
    assert {i.key: set(i.collections) for i in inventory(settings()) if i.where == FIRESTORE} == names
    assert stored_data.MOVE_PURGE_AFTER == move.PURGE_AFTER


def test_ttls_are_the_ones_terraform_sets_and_the_code_writes():
    with (ROOT / "terraform" / "firestore.tf").open() as f:
        doc = hcl2.load(f)
    terraform = {k.strip('"'): v.strip('"') for block in doc["locals"] for k, v in block.get("ttl_fields", {}).items()
                 if not k.startswith("__")}
    assert terraform, "terraform/firestore.tf has no ttl_fields"
    on_page = {c: i.ttl_field for i in inventory(settings()) if i.ttl_field for c in i.collections}
    assert on_page == terraform
    for item in inventory(settings()):
        assert (item.kept.kind == "ttl") == (item.ttl_field is not None), item.key
        if item.ttl_field:
            assert item.ttl_field in item.fields, item.key


def test_every_listed_field_is_one_the_code_names():
    literals: set[str] = set()
    for path in SYNC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
            elif isinstance(node, ast.keyword) and node.arg:
                literals.add(node.arg)
    for item in inventory(settings()):
        stale = item.fields - literals
        assert not stale, f"{item.key}: {stale} is written nowhere in sync/"


def test_every_field_a_firestore_write_names_is_listed():
    """Writes spelled as dict literals (set/update/create on a document, a transaction or a batch;
    any such call in sync/, to be safe): the rare paths the end-to-end walk may not take."""
    listed = set().union(*(i.fields for i in inventory(settings()) if i.where == FIRESTORE))
    unlisted = []
    for path in SYNC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("set", "update", "create"):
                for arg in node.args:
                    if isinstance(arg, ast.Dict):
                        unlisted += [f"{path.relative_to(ROOT)}:{node.lineno} {k.value}" for k in arg.keys
                                     if isinstance(k, ast.Constant) and k.value not in listed]
    assert not unlisted, unlisted


# Documents that never outlive a request (published then deleted; cleared when the check starts)
# are not seen by the end-to-end walk: their writers are captured here instead.
class _Recorder:
    def __init__(self) -> None:
        self.writes: list[tuple[str, dict[str, Any]]] = []

    def collection(self, name: str) -> _Recorder:
        self.current = name
        return self

    def document(self, _id: str) -> _Recorder:
        return self

    def create(self, fields: dict[str, Any], **_: Any) -> None:  # DocumentReference.create(fields)
        self.writes.append((self.current, fields))

    def set(self, *args: Any, **_: Any) -> None:  # DocumentReference.set(fields) or Transaction.set(ref, fields)
        self.writes.append((self.current, args[-1]))


def _fields(key: str) -> frozenset[str]:
    return next(i.fields for i in inventory(settings()) if i.key == key)


def test_the_notification_outbox_fields_are_listed(monkeypatch):
    from sync.adapters.firestore.outbox import OUTBOX, FirestoreOutbox
    from sync.kernel import notification as model

    recorder = _Recorder()
    note = model.activated("a", "u", "x@example.com", "cal", None, ("t",))
    assert FirestoreOutbox(recorder, enabled=True).stage(recorder, note)  # type: ignore[arg-type]
    [(collection, fields)] = recorder.writes
    assert collection == OUTBOX and set(fields) <= _fields("notification")


def test_the_drift_pending_marker_fields_are_listed():
    from sync.adapters.firestore.drift import PENDING, FirestoreDriftStore

    store = object.__new__(FirestoreDriftStore)
    recorder = _Recorder()
    store.db = recorder  # type: ignore[assignment]
    assert store.mark_pending("a", "u", timedelta(seconds=120))
    [(collection, fields)] = recorder.writes
    assert collection == PENDING and set(fields) <= _fields("drift")


def test_the_oauth_state_written_by_connect_is_listed():
    source = (SYNC / "connections" / "flow.py").read_text()
    call = re.search(r"\.put_state\(_sha\(state\), (\{.*?\})\)", source, re.S)
    assert call, "the /connect state document moved: update this test"
    keys = {k.value for k in ast.parse(call.group(1), mode="eval").body.keys}  # type: ignore[attr-defined]
    assert keys and keys <= _fields("oauth_state")


# --- the page ---------------------------------------------------------------------------------------
@pytest.fixture(params=["pt-BR", "en"])
def lang(request) -> str:
    return str(request.param)


def test_each_scope_is_named_with_why(lang):
    page, _ = render(lang, settings())
    for scope in SCOPES:
        assert scope in page
        title, why = privacy.SCOPE_TEXT[scope][lang]
        assert title in text(page) and why in text(page)
    assert set(privacy.SCOPE_TEXT) == set(SCOPES)  # nothing described that is not asked for


def test_the_limited_use_statement_is_googles_wording(lang):
    page, _ = render(lang, settings())
    assert LIMITED_USE == ("The use and transfer of information received from Google APIs to any other app will "
                           "adhere to Google API Services User Data Policy, including the Limited Use requirements.")
    statement = re.search(r'<blockquote lang="en" id="limited-use-statement">(.*?)</blockquote>', page, re.S)
    assert statement and html.unescape(re.sub(r"<[^>]+>", "", statement.group(1))) == LIMITED_USE
    assert 'href="https://developers.google.com/terms/api-services-user-data-policy"' in statement.group(1)


def test_every_stored_item_is_on_the_page_with_its_retention(lang):
    s = settings()
    page, _ = render(lang, s)
    for item in inventory(s):
        if item.local_only:
            assert f'id="stored-{item.key}"' not in page
            continue
        body = section(page, item.key)
        assert item.what[lang] in body and item.why[lang] in body
        assert privacy.kept(lang, item) in body
        for collection in item.collections:
            assert collection in body
        for name in item.fields:
            assert name in body
    assert [i.key for i in shown(s)] == re.findall(r'<section id="stored-([a-z_]+)">', page)


def test_durations_follow_the_code_and_the_deployment():
    from sync.connections.flow import STATE_SECONDS
    from sync.web.session import LIFETIME_SECONDS

    assert (STATE_SECONDS, LIFETIME_SECONDS) == (600, 1800)
    page, _ = render("en", settings())
    assert section(page, "oauth_state").count("10 minutes from when it is created") == 1
    assert "30 minutes from when it is created" in section(page, "flow_session")
    assert "7 days from when it is created" in section(page, "drift_channel")
    assert "8 days from when it is created" in section(page, "snapshot")
    assert "8 days from when it is created" in section(page, "calendar_move")
    assert "At most 7 days" in section(page, "queue")
    # The deployment's Pub/Sub retention (Terraform's message_retention) and channel lifetime.
    page, _ = render("pt-BR", settings(QUEUE_RETENTION_SECONDS="86400", DRIFT_CHANNEL_TTL_SECONDS="172800"))
    assert "No máximo 1 dia" in section(page, "queue")
    assert "2 dias a partir de quando é criado" in section(page, "drift_channel")


@pytest.mark.parametrize("seconds,en,pt", [(600, "10 minutes", "10 minutos"), (60, "1 minute", "1 minuto"),
                                           (7200, "2 hours", "2 horas"), (86400, "1 day", "1 dia"),
                                           (691200, "8 days", "8 dias"), (90, "2 minutes", "2 minutos")])
def test_duration_wording(seconds, en, pt):
    assert (privacy.duration("en", seconds), privacy.duration("pt-BR", seconds)) == (en, pt)


def test_the_page_says_how_to_delete_and_what_happens_then(lang):
    page, _ = render(lang, settings())
    t = privacy.TEXT[lang]
    for key in ("delete_body", "delete_then", "revoke", "who_body", "use_body"):
        assert t[key] in text(page)
    assert "myaccount.google.com/permissions" in text(page)


def test_both_languages_say_the_same_things():
    assert set(privacy.TEXT["pt-BR"]) == set(privacy.TEXT["en"])
    for item in inventory(settings()):
        assert set(item.what) == set(item.why) == {"pt-BR", "en"}, item.key
        assert item.key in privacy.TITLES or item.local_only


def test_every_page_of_the_flow_links_the_policy(monkeypatch):
    from sync.web import pages

    monkeypatch.setattr("sync.config.settings", lambda: settings())
    for lang in ("pt-BR", "en"):
        done, _ = pages.message(lang, "done")
        assert done.count('href="https://sync.example.com/privacy"') == 1 and 'id="done-policy-link"' in done
        error, _ = pages.message(lang, "state")
        assert 'href="https://sync.example.com/privacy"' in error
        chooser, _ = pages.calendars(lang, "a@example.com", [{"id": "a@example.com", "primary": True}], None, "t")
        assert 'href="https://sync.example.com/privacy"' in chooser
        policy, _ = render(lang, settings())
        assert 'id="policy-link"' not in policy  # the policy does not link itself


def test_the_route_answers_get_in_either_language_and_refuses_other_methods(monkeypatch):
    from flask import Flask

    monkeypatch.setattr("sync.config.settings", lambda: settings())
    app = Flask(__name__)
    with app.test_request_context("/privacy?lang=en", headers={"Accept-Language": "pt-BR"}):
        from flask import request

        response = privacy.handle(request, settings(), "pt-BR")
        assert response.status_code == 200 and '<html lang="en">' in response.get_data(as_text=True)
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    with app.test_request_context("/privacy?lang=xx"):
        from flask import request

        assert '<html lang="pt-BR">' in privacy.handle(request, settings(), "pt-BR").get_data(as_text=True)
    with app.test_request_context("/privacy", method="POST"):
        from flask import request

        response = privacy.handle(request, settings(), "en")
        assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD"

