"""The helper functions policies can call, tested directly."""

from __future__ import annotations

import pytest

from corral_sdk.policy.helpers import host_matches, lower, url_host, url_path, url_scheme


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://API.Example.com/v1", "api.example.com"),
        ("https://user:pw@example.com:8443/x", "example.com"),
        ("https://example.com./x", "example.com"),
        ("example.com/path", "example.com"),
        ("localhost:8080/api", "localhost"),
        ("http://[::1]:80/", "::1"),
        ("https://evil.example\\@good.example/", "evil.example"),
        ("javascript:alert(1)", ""),
        ("http://[broken", ""),
        ("", ""),
    ],
)
def test_url_host(url: str, host: str) -> None:
    assert url_host(url) == host


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://x.example", "/"),
        ("https://x.example/a/b?q=1#f", "/a/b"),
        ("https://x.example/a/../admin", "/admin"),
        ("https://x.example/%61dmin/./users", "/admin/users"),
        ("https://x.example/a/%2E%2E/admin", "/admin"),
        ("https://x.example/a%2Fb", "/a%2Fb"),
        ("https://x.example/a/b/..", "/a/"),
        ("example.com/x", "/x"),
    ],
)
def test_url_path_is_normalized(url: str, path: str) -> None:
    assert url_path(url) == path


@pytest.mark.parametrize(
    ("url", "scheme"),
    [("HTTPS://x", "https"), ("x.example/a", ""), ("localhost:8080", ""), ("mailto:a@b", "mailto")],
)
def test_url_scheme(url: str, scheme: str) -> None:
    assert url_scheme(url) == scheme


@pytest.mark.parametrize(
    ("host", "domain", "expected"),
    [
        ("example.com", "example.com", True),
        ("api.Example.com.", "example.com", True),
        ("evilexample.com", "example.com", False),
        ("example.com.evil.net", "example.com", False),
        ("example.com", "", False),
    ],
)
def test_host_matches(host: str, domain: str, expected: bool) -> None:
    assert host_matches(host, domain) is expected


def test_lower_is_unicode_aware() -> None:
    assert lower("DROP Täble") == "drop täble"


@pytest.mark.parametrize("helper", [url_host, url_path, url_scheme, lower])
def test_helpers_refuse_non_strings(helper: object) -> None:
    assert callable(helper)
    with pytest.raises(TypeError, match="takes a string"):
        helper(8080)
