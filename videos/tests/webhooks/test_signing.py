"""Signing, against the Standard Webhooks test vector and the reference verifier."""

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from videos.webhooks.signing import new_secret, sign, signed_headers

# The published test vector of the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_spec_test_vector():
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_secrets_are_whsec_and_base64_of_enough_random_bytes():
    secret = new_secret()
    raw = base64.b64decode(secret.removeprefix("whsec_"))
    assert secret.startswith("whsec_") and 24 <= len(raw) <= 64
    assert new_secret() != secret


@given(st.binary(max_size=400), st.text(alphabet="abcdef0123456789-", min_size=1, max_size=40))
def test_the_reference_verifier_accepts_our_headers(body, msg_id):
    secret = new_secret()
    now = int(datetime.now(UTC).timestamp())
    text = body.decode("latin-1").encode()  # the reference verifier works on text
    headers = signed_headers(secret, msg_id, now, text)
    Webhook(secret).verify(text, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(text, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(text + b"x", headers, json_parse=False)
