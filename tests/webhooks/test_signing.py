"""Signatures checked by the public `standardwebhooks` library, as receivers check them."""

from __future__ import annotations

import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from corral.webhooks import signing

BODY = b'{"type":"run.succeeded","data":{"run_id":"run_1"}}'


def test_a_signed_message_verifies_with_the_reference_library() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    headers = signing.headers([secret], "msg_1", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers) == {
        "type": "run.succeeded",
        "data": {"run_id": "run_1"},
    }


def test_a_changed_body_or_id_fails_verification() -> None:
    secret = signing.new_secret()
    headers = signing.headers([secret], "msg_1", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"run_1", b"run_2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "msg_2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    headers = signing.headers([new, old], "msg_1", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)


def test_a_stale_timestamp_is_refused_by_receivers() -> None:
    secret = signing.new_secret()
    headers = signing.headers([secret], "msg_1", int(time.time()) - 3600, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)
