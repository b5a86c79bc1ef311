import base64
import time
from datetime import datetime, timedelta, timezone

import pytest

from sync.kernel.errors import ConfigError, InvalidSignature
from sync.kernel.signature import decode_secrets, sign, verify
from tests.helpers import new_secret, signed_headers

BODY = b'{"type":"event.created"}'


def lower(headers):
    return {k.lower(): v for k, v in headers.items()}


def test_accepts_what_the_reference_library_signs():
    secret = new_secret()
    headers = lower(signed_headers(secret, BODY, webhook_id="msg_1"))
    assert verify(decode_secrets(secret), headers, BODY, time.time()) == "msg_1"


def test_secret_without_prefix_is_the_same_key():
    secret = new_secret()
    assert decode_secrets(secret) == decode_secrets(secret.removeprefix("whsec_"))


def test_any_one_matching_entry_is_enough_for_sender_rotation():
    old, new = new_secret(), new_secret()
    headers = lower(signed_headers(new, BODY))
    other = lower(signed_headers(old, BODY, webhook_id=headers["webhook-id"]))
    headers["webhook-signature"] = f"v1,AAAA {other['webhook-signature']} v1a,zzz {headers['webhook-signature']}"
    assert verify(decode_secrets(old), headers, BODY, time.time())


def test_receiver_may_hold_two_secrets_during_rotation():
    old, new = new_secret(), new_secret()
    headers = lower(signed_headers(old, BODY))
    assert verify(decode_secrets(f"{new} {old}"), headers, BODY, time.time())


@pytest.mark.parametrize("skew", [-301, 301, -3600, 86400])
def test_stale_or_future_timestamps_are_refused(skew):
    secret = new_secret()
    when = datetime.now(timezone.utc) + timedelta(seconds=skew)
    headers = lower(signed_headers(secret, BODY, timestamp=when))
    with pytest.raises(InvalidSignature):
        verify(decode_secrets(secret), headers, BODY, time.time())


@pytest.mark.parametrize("skew", [-290, 0, 290])
def test_timestamps_within_five_minutes_pass(skew):
    secret = new_secret()
    when = datetime.now(timezone.utc) + timedelta(seconds=skew)
    headers = lower(signed_headers(secret, BODY, timestamp=when))
    assert verify(decode_secrets(secret), headers, BODY, time.time())


@pytest.mark.parametrize("mutate", [
    lambda h: h.pop("webhook-id"),
    lambda h: h.pop("webhook-timestamp"),
    lambda h: h.pop("webhook-signature"),
    lambda h: h.update({"webhook-timestamp": "12ab"}),
    lambda h: h.update({"webhook-timestamp": "-5"}),
    lambda h: h.update({"webhook-signature": "v1,"}),
    lambda h: h.update({"webhook-signature": "v2," + h["webhook-signature"][3:]}),
    lambda h: h.update({"webhook-signature": h["webhook-signature"][:-4] + "AAA="}),
    lambda h: h.update({"webhook-id": "other-id"}),
    lambda h: h.update({"webhook-id": "a\nb"}),
    lambda h: h.update({"webhook-timestamp": "\u00b2"}),  # str.isdigit() says yes, int() says no
    lambda h: h.update({"webhook-timestamp": "\u0661\u0662\u0663"}),  # Arabic-Indic digits: int() takes them
])
def test_malformed_or_wrong_headers_are_refused(mutate):
    secret = new_secret()
    headers = lower(signed_headers(secret, BODY))
    mutate(headers)
    with pytest.raises(InvalidSignature):
        verify(decode_secrets(secret), headers, BODY, time.time())


def test_tampered_body_is_refused():
    secret = new_secret()
    headers = lower(signed_headers(secret, BODY))
    with pytest.raises(InvalidSignature):
        verify(decode_secrets(secret), headers, BODY + b" ", time.time())


def test_wrong_secret_is_refused():
    headers = lower(signed_headers(new_secret(), BODY))
    with pytest.raises(InvalidSignature):
        verify(decode_secrets(new_secret()), headers, BODY, time.time())


def test_sign_matches_the_specification_example():
    # The example from the Standard Webhooks specification.
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    assert sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("configured", ["", "whsec_***not-base64***"])
def test_misconfigured_secret_is_a_config_error(configured):
    with pytest.raises(ConfigError):
        decode_secrets(configured)
