"""`authorized_uris` globs: which URLs a connection's credentials may be sent to.

A glob is an absolute http(s) URL in which `*` matches within one path segment (never `/`) and
`**` matches across segments. Scheme and host are compared exactly (case-insensitively, with the
default port made explicit), so `https://api.example.com/**` never covers
`https://api.example.com.evil.test/`; a glob without a path covers the origin's root only.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

MAX_GLOB_CHARS = 2000
# Bounds the matcher's work: each wildcard can multiply the positions it tries.
MAX_WILDCARDS = 8
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, host: str | None, port: int | None) -> str:
    return f"{scheme}://{(host or '').lower()}:{port or _DEFAULT_PORTS[scheme]}"


def check_glob(glob: str) -> str:
    """The glob if it is well formed, else ValueError saying why."""
    if len(glob) > MAX_GLOB_CHARS:
        raise ValueError(f"at most {MAX_GLOB_CHARS} characters")
    parts = urlsplit(glob)
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError("must start with http:// or https://")
    if not parts.hostname or "*" in parts.netloc:
        raise ValueError("must name a host; wildcards belong in the path")
    if parts.username or parts.password:
        raise ValueError("must not hold credentials")
    if parts.query or parts.fragment:
        raise ValueError("must not hold a query or fragment")
    if "***" in parts.path:
        raise ValueError("use * within a segment or ** across segments")
    if parts.path.count("*") > MAX_WILDCARDS:
        raise ValueError(f"at most {MAX_WILDCARDS} wildcard characters")
    try:
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        raise ValueError("has a malformed port") from None
    return glob


def _path_pattern(path: str) -> re.Pattern[str]:
    pieces: list[str] = []
    for piece in re.split(r"(\*\*|\*)", path or "/"):
        if piece == "**":
            pieces.append(".*")
        elif piece == "*":
            pieces.append("[^/]*")
        else:
            pieces.append(re.escape(piece))
    return re.compile("".join(pieces))


def matches(glob: str, url: str) -> bool:
    """Whether `url` is covered by `glob` (query strings are ignored, fragments too)."""
    pattern, target = urlsplit(glob), urlsplit(url)
    if target.scheme not in _DEFAULT_PORTS or target.username or target.password:
        return False
    # Dot segments, also percent-encoded, could climb out of the covered path at the server.
    segments = unquote(target.path).split("/")
    if "." in segments or ".." in segments or "%2f" in target.path.lower():
        return False
    try:
        same_origin = _origin(pattern.scheme, pattern.hostname, pattern.port) == _origin(
            target.scheme, target.hostname, target.port
        )
    except ValueError:
        return False
    return same_origin and _path_pattern(pattern.path).fullmatch(target.path or "/") is not None


def covered(globs: list[str], url: str) -> bool:
    return any(matches(glob, url) for glob in globs)
