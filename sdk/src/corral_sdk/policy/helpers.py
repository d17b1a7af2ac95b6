"""Functions every engine adds to CEL for policies about agents' tool calls.

Each helper is pure, takes and returns plain Python values, and raises `TypeError` for an
argument of the wrong type so that every engine reports the same error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit

_UNRESERVED_ESCAPE = re.compile(r"%(2[dDeE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])")
# A scheme is letters then `:`, except `host:8080` where the digits are a port.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(?!\d+(?:[/?#]|$))")


def _text(value: object, function: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{function}() takes a string, got {type(value).__name__}")
    return value


def _split(url: str) -> SplitResult | None:
    # Browsers and most HTTP clients read "\" as "/" in web URLs, so a host check must too,
    # or `https://evil.example\@good.example` would pass as good.example.
    cleaned = url.strip().replace("\\", "/")
    if _SCHEME.match(cleaned) is None and not cleaned.startswith("//"):
        # A bare `example.com/path`, as agents often pass, is read as a host and a path.
        cleaned = "//" + cleaned
    try:
        parts = urlsplit(cleaned)
        _ = parts.hostname
    except ValueError:
        return None
    return parts


def _normal_host(host: str) -> str:
    # DNS names are case-insensitive and "example.com." is "example.com".
    return host.lower().rstrip(".")


# Several policies on one call usually read the same URL, and parsing costs microseconds.
@lru_cache(maxsize=1024)
def _host(url: str) -> str:
    parts = _split(url)
    if parts is None or parts.hostname is None:
        return ""
    return _normal_host(parts.hostname)


def url_host(url: object) -> str:
    """The lower-case host of a URL, without port, credentials or trailing dot; "" if none."""
    return _host(_text(url, "url_host"))


def _remove_dot_segments(path: str) -> str:
    output: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    # A path ending in "." or ".." names a directory, as in RFC 3986 §5.2.4.
    if path.rsplit("/", 1)[-1] in {".", ".."} and (not output or output[-1] != ""):
        output.append("")
    return "/" + "/".join(output)


@lru_cache(maxsize=1024)
def _path(url: str) -> str:
    parts = _split(url)
    if parts is None or not parts.path:
        return "/"
    decoded = _UNRESERVED_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), parts.path)
    return _remove_dot_segments(decoded if decoded.startswith("/") else "/" + decoded)


def url_path(url: object) -> str:
    """The path of a URL, normalized per RFC 3986 §6.2.2 so `/a/../admin` reads `/admin`."""
    return _path(_text(url, "url_path"))


def url_scheme(url: object) -> str:
    """The lower-case scheme of a URL (`https`), or "" when it has none."""
    found = _SCHEME.match(_text(url, "url_scheme").strip())
    return found.group(1).lower() if found else ""


def host_matches(host: object, domain: object) -> bool:
    """True when `host` is `domain` or its subdomain (`evilexample.com` is not `example.com`)."""
    candidate = _normal_host(_text(host, "host_matches"))
    suffix = _normal_host(_text(domain, "host_matches"))
    if not suffix:
        return False
    return candidate == suffix or candidate.endswith("." + suffix)


def lower(text: object) -> str:
    """The text in lower case (Unicode), for case-insensitive comparisons."""
    return _text(text, "lower").lower()


@dataclass(frozen=True, slots=True)
class Helper:
    """One helper: its CEL name, parameter and result types, and implementation."""

    name: str
    params: tuple[type, ...]
    returns: type
    impl: Callable[..., object]


HELPERS: tuple[Helper, ...] = (
    Helper("url_host", (str,), str, url_host),
    Helper("url_path", (str,), str, url_path),
    Helper("url_scheme", (str,), str, url_scheme),
    Helper("host_matches", (str, str), bool, host_matches),
    Helper("lower", (str,), str, lower),
)
