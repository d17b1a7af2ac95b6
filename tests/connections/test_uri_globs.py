"""`authorized_uris` globs: `*` within a segment, `**` across, exact origins, no escapes."""

from __future__ import annotations

import pytest

from corral.connections.uri_globs import check_glob, covered, matches


@pytest.mark.parametrize(
    ("glob", "url", "expected"),
    [
        ("https://api.example.com/v1/*", "https://api.example.com/v1/users", True),
        ("https://api.example.com/v1/*", "https://api.example.com/v1/users/7", False),
        ("https://api.example.com/v1/**", "https://api.example.com/v1/users/7", True),
        ("https://api.example.com/v1/**", "https://api.example.com/v2/users", False),
        ("https://api.example.com/v1/*/items", "https://api.example.com/v1/7/items", True),
        ("https://api.example.com/v1/*/items", "https://api.example.com/v1/7/8/items", False),
        ("https://api.example.com/**", "https://API.Example.com/x?q=1", True),
        ("https://api.example.com/**", "https://api.example.com:443/x", True),
        ("https://api.example.com/**", "https://api.example.com:8443/x", False),
        ("https://api.example.com/**", "http://api.example.com/x", False),
        ("https://api.example.com/**", "https://api.example.com.evil.test/x", False),
        ("https://api.example.com/**", "https://evil.test/api.example.com/x", False),
        ("https://api.example.com/**", "https://user:pw@api.example.com/x", False),
        ("https://api.example.com/v1/**", "https://api.example.com/v1/../admin", False),
        ("https://api.example.com/v1/**", "https://api.example.com/v1/%2e%2e/admin", False),
        ("https://api.example.com/v1/*", "https://api.example.com/v1/a%2Fb", False),
        ("https://api.example.com", "https://api.example.com/", True),
        ("https://api.example.com", "https://api.example.com/x", False),
        ("https://api.example.com/a.b", "https://api.example.com/aXb", False),
        ("https://api.example.com/**", "ftp://api.example.com/x", False),
    ],
)
def test_matching(glob: str, url: str, expected: bool) -> None:
    assert matches(glob, url) is expected


@pytest.mark.parametrize(
    "glob",
    [
        "api.example.com/**",
        "ftp://api.example.com/**",
        "https://*.example.com/**",
        "https://user:pw@api.example.com/",
        "https://api.example.com/?q=1",
        "https://api.example.com/***",
        "https://api.example.com:99999/",
        "https://api.example.com/" + "*/" * 9,
    ],
)
def test_malformed_globs_are_refused(glob: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        check_glob(glob)


def test_any_glob_covers() -> None:
    globs = ["https://a.example.com/**", "https://b.example.com/x"]
    assert covered(globs, "https://b.example.com/x")
    assert not covered(globs, "https://b.example.com/y")
