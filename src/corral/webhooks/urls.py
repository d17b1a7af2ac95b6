"""Which endpoint URLs are accepted when an endpoint is created or changed.

This is the early, friendly check; the address a hostname resolves to is checked again at every
delivery by the egress guard, which is the one that matters (DNS can change after creation).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from corral.core.egress.addresses import parse_address, refusal
from corral.core.errors import InvalidInput


def check_endpoint_url(url: str, *, production: bool, allow_private: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an absolute http(s) URL", code="invalid_webhook_url")
    if production and parts.scheme != "https":
        raise InvalidInput("url must use https in production", code="invalid_webhook_url")
    if parts.username or parts.password:
        raise InvalidInput("url must not carry credentials", code="invalid_webhook_url")
    if parts.fragment:
        raise InvalidInput("url must not have a fragment", code="invalid_webhook_url")
    literal = parse_address(parts.hostname)
    if literal is not None:
        why = refusal(literal, allow_private=allow_private)
        if why is not None:
            raise InvalidInput(
                f"url points at {literal}, {why}; set CORRAL_WEBHOOKS_ALLOW_PRIVATE_TARGETS "
                "in development to allow it",
                code="webhook_target_refused",
            )
    return url
