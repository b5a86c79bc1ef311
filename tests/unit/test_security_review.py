"""Findings of the outside security review (second round), in process.

- The worker's push check: google-auth parses an ID token's header before any signature check,
  so an anonymous caller with a deeply nested header got a 500 (and an ERROR line) instead of 401.
- Webhook bodies the contract calls invalid but that crashed validation: a 503, which the platform
  retries for ever (a poison message): JSON nested past the parser's limit, instants outside what a
  datetime can hold, and Unicode digits in recurrence rules.
- A link token's return_url with control characters (CR/LF) passed the origin check (URL parsers drop
  them) and then broke the final redirect with a 500, after the choice was saved.
- Parked changes keep only the contract's event fields, so Firestore can always store them.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from sync.kernel.model import Change, Version, contract_event
from sync.kernel.payload import parse_body, parse_change
from sync.kernel.signature import decode_secrets
from sync.kernel.signature import sign as hmac_sign
from sync.web.tokens import ReturnUrlRefused, verify_link
from tests.fakes import webhook_app
from tests.helpers import new_secret, payload
from tests.unit.test_push_auth import certs, id_token, push, world  # noqa: F401  (fixtures)

SECRET = new_secret()
KEY = "link-secret-for-the-review-tests-0123456789"


# -- the push check --------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_deeply_nested_push_token_header_is_401_not_500(world, certs):  # noqa: F811
    client, calendar = world(check=True, certs_url=certs.url)
    _, body, signature = id_token().split(".")
    for nested in (b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000):
        r = push(client, f"{_b64(nested)}.{body}.{signature}")
        assert r.status_code == 401, r.data
    assert calendar.calls == []


def test_a_deeply_nested_push_body_is_a_bad_envelope_not_500(world):  # noqa: F811
    client, calendar = world(check=False)
    r = client.post("/", data=b"[" * 100_000 + b"]" * 100_000, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.data
    data = base64.b64encode(b"[" * 100_000 + b"]" * 100_000).decode()
    r = client.post("/", json={"message": {"data": data, "messageId": "1"}, "subscription": "s"})
    assert r.status_code == 400, r.data
    assert calendar.calls == []


# -- the webhook -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def webhook():
    yield from webhook_app("review", SECRET)


def _send(webhook, raw: bytes):
    client, publisher = webhook
    ts = int(time.time())
    headers = {"Content-Type": "application/json", "webhook-id": "msg_review", "webhook-timestamp": str(ts),
               "webhook-signature": "v1," + hmac_sign(decode_secrets(SECRET)[0], "msg_review", ts, raw)}
    before = len(publisher.messages)
    r = client.post("/", data=raw, headers=headers)
    return r, len(publisher.messages) - before


def _event(**fields):
    data = payload()
    data["event"].update(fields)
    return json.dumps(data).encode()


INVALID = {
    "array nested 100k deep": b"[" * 100_000 + b"]" * 100_000,
    "object nested 50k deep": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "version before year 1 in UTC": _event(updated_at="0001-01-01T00:00:00+01:00"),
    "start before year 1 in UTC": _event(start={"date_time": "0001-01-01T00:30:00+01:00"}),
    "start before year 1 in its zone": _event(start={"date_time": "0001-01-01T00:00:00", "time_zone": "Asia/Tokyo"},
                                              end={"date_time": "0001-01-02T00:00:00", "time_zone": "Asia/Tokyo"}),
    "end after year 9999 in UTC": _event(end={"date_time": "9999-12-31T23:59:00-01:00"}),
    "superscript COUNT": _event(recurrence=["RRULE:FREQ=DAILY;COUNT=\u00b2"]),
    "superscript BYMONTHDAY": _event(recurrence=["RRULE:FREQ=MONTHLY;BYMONTHDAY=\u00b2"]),
    "superscript BYSETPOS": _event(recurrence=["RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-\u00b9"]),
    "Arabic-Indic INTERVAL": _event(recurrence=["RRULE:FREQ=DAILY;INTERVAL=\u0663"]),
    "Arabic-Indic version": _event(updated_at="\u0662\u0660\u0662\u0666-11-20T13:00:00Z"),
    "Arabic-Indic start": _event(start={"date_time": "\u0662\u0660\u0662\u0666-11-25T14:00:00Z"}),
    "Arabic-Indic EXDATE": _event(start={"date_time": "2026-11-25T14:00:00", "time_zone": "America/Sao_Paulo"},
                                  end={"date_time": "2026-11-25T15:00:00", "time_zone": "America/Sao_Paulo"},
                                  recurrence=["RRULE:FREQ=DAILY;COUNT=3",
                                              "EXDATE:\u0662\u0660\u0662\u066601T140000Z"]),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_signed_bodies_are_400_never_a_retried_503(webhook, case):
    r, published = _send(webhook, INVALID[case])
    assert r.status_code == 400, (case, r.status_code, r.data)
    assert r.get_json()["error"] == "invalid_payload"
    assert published == 0


def test_ascii_rules_and_extreme_but_real_instants_still_pass(webhook):
    ok = _event(updated_at="2026-11-20T13:00:00Z", start={"date_time": "0001-01-01T02:00:00+01:00"},
                end={"date_time": "9999-12-31T22:00:00-01:00"})
    r, published = _send(webhook, ok)
    assert r.status_code == 202 and published == 1, r.data
    r, published = _send(webhook, _event(recurrence=["RRULE:FREQ=MONTHLY;COUNT=12;INTERVAL=2;BYMONTHDAY=-1"],
                                         start={"date_time": "2026-11-25T14:00:00", "time_zone": "UTC"},
                                         end={"date_time": "2026-11-25T15:00:00", "time_zone": "UTC"}))
    assert r.status_code == 202 and published == 1, r.data


# -- return_url --------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["https://app.evolutto.com.br/x\r\nSet-Cookie: a=b", "https://app.evolutto.com.br/\n",
                                 "https://app.evolutto.com.br/\x00", "https://app.evolutto.com.br\t/"])
def test_a_return_url_with_control_characters_is_refused(url):
    import jwt

    token = jwt.encode({"sub": "u", "acct": "a", "exp": int(time.time()) + 600, "return_url": url}, KEY,
                       algorithm="HS256")
    with pytest.raises(ReturnUrlRefused):
        verify_link(token, KEY, ("https://app.evolutto.com.br",))


# -- what a parked change keeps ------------------------------------------------------------------
def test_a_parked_change_keeps_the_contract_fields_only_and_applies_the_same():
    raw = payload(attendees=[{"email": "c@example.com", "display_name": "C", "optional": True, "extra": [[1]]}],
                  recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"], reminders_minutes=[10],
                  start={"date_time": "2026-11-25T14:00:00", "time_zone": "America/Sao_Paulo", "x": [[1]]},
                  end={"date_time": "2026-11-25T15:00:00", "time_zone": "America/Sao_Paulo"})
    raw["event"].update(geo=[[1, 2]], deep={"a": {"b": {"c": {}}}}, **{f"k{i}": i for i in range(100)})
    change = parse_change(raw, "msg_1")
    parked = change.parked_message()
    assert parked["event"] == {k: v for k, v in raw["event"].items()
                               if k in ("id", "updated_at", "title", "description", "location", "start", "end",
                                        "recurrence", "attendees", "reminders_minutes", "conference_url", "url")
                               } | {"start": {"date_time": "2026-11-25T14:00:00", "time_zone": "America/Sao_Paulo"},
                                    "attendees": [{"email": "c@example.com", "display_name": "C", "optional": True}]}
    assert "[[" not in json.dumps(parked)
    again = parse_change(parse_body(json.dumps(parked).encode()), "msg_1")
    assert again == change and again.event == change.event


def test_a_parked_delete_keeps_id_and_version():
    raw = {"type": "event.deleted", "account_id": "a", "user_id": "u",
           "event": {"id": "ev", "updated_at": "2026-11-20T13:00:00Z", "title": [[1]], "attendees": [[1]]}}
    change = parse_change(raw, "m")
    assert change.parked_message()["event"] == {"id": "ev", "updated_at": "2026-11-20T13:00:00Z"}
    assert contract_event({"start": "x", "attendees": "y", "title": {"a": 1}}) == {"start": "x", "attendees": "y"}
    assert Change("event.deleted", "a", "u", "ev", Version.parse("2026-11-20T13:00:00Z"), "m").parked_message()[
        "event"] == {}


# -- JWT claim types ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["link", "api"])
def test_a_string_exp_is_an_invalid_token_not_a_500(kind):
    """PyJWT accepts "exp": "1795320828" (it calls int()); the lifetime check then raised TypeError."""
    import jwt

    from sync.web.tokens import TokenInvalid, verify_api

    claims = {"sub": "u", "acct": "a", "exp": str(int(time.time()) + 60), **({"aud": "api"} if kind == "api" else {})}
    token = jwt.encode(claims, KEY, algorithm="HS256")
    with pytest.raises(TokenInvalid):
        verify_link(token, KEY, ()) if kind == "link" else verify_api("Bearer " + token, KEY, "a", "u")


def test_ids_that_cannot_name_a_firestore_document_are_refused_at_the_edge():
    """Firestore refuses document ids over 1500 bytes and of the form __…__: such ids are a 400 at
    the webhook (and a 401/403 for tokens), never a write that can only fail and dead-letter."""
    import time as _time

    import jwt

    from sync.kernel.errors import InvalidPayload
    from sync.kernel.model import key_problem
    from sync.kernel.payload import parse_change
    from sync.web.tokens import TokenForbidden, TokenInvalid, verify_api, verify_link
    from tests.helpers import payload

    wide = "é" * 200  # 400 bytes of UTF-8, 1,200 once escaped
    assert key_problem("acct", "u") is None and key_problem("__acct", "u") is None
    assert key_problem("__acct", "u__") == ("user_id", "an account_id starting and a user_id ending with '__' are "
                                                       "reserved")
    assert key_problem(wide, wide)[0] == "user_id"
    for data, loc in ((payload(account_id="__acct", user_id="u__"), "user_id"),
                      (payload(account_id=wide, user_id=wide), "user_id")):
        with pytest.raises(InvalidPayload) as exc:
            parse_change(data, "msg_1")
        assert [d["loc"] for d in exc.value.detail] == [loc]
    secret = "s" * 32
    link = jwt.encode({"sub": "u__", "acct": "__acct", "exp": int(_time.time()) + 300}, secret, algorithm="HS256")
    with pytest.raises(TokenInvalid):
        verify_link(link, secret, ())
    api = jwt.encode({"sub": "u__", "acct": "__acct", "aud": "api", "exp": int(_time.time()) + 300}, secret,
                     algorithm="HS256")
    with pytest.raises(TokenForbidden):
        verify_api(f"Bearer {api}", secret, "__acct", "u__")
