"""Which base URLs an application's provider may have.

The model gateway sends the provider's key, and the agent's conversation, to this URL from
inside Corral's network. In production an application's provider must therefore use https and
must not name a loopback, private, link-local or otherwise reserved address literally (nor
`localhost`); development allows plain http and local servers, for local models and tests.
Host names are not resolved here: see docs/providers.md for what that leaves open.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

MAX_URL_CHARS = 2000


def _is_internal(host: str) -> bool:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return not address.is_global


def check_base_url(url: str, *, production: bool) -> str:
    """The URL without a trailing slash, or ValueError saying what is wrong with it."""
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"at most {MAX_URL_CHARS} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with https:// (or http:// in development)")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username or parts.password:
        raise ValueError("must not hold credentials; the key goes in api_key")
    if parts.query or parts.fragment:
        raise ValueError("must not hold a query or fragment")
    try:
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        raise ValueError("has a malformed port") from None
    if production:
        if parts.scheme != "https":
            raise ValueError("must use https:// in production")
        if _is_internal(parts.hostname):
            raise ValueError("must not name a loopback, private or reserved address")
    return url.rstrip("/")
