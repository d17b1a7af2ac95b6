"""The egress client against real local servers: the address checks, the connection going to
the checked address (DNS rebinding), redirects re-checked hop by hop, timeouts, the size cap.

Names are resolved by an injected resolver (the DNS is the true edge here), never the internet.
Loopback servers are reachable only through an explicit allowance.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import pytest

from corral.core.egress.client import (
    EgressClient,
    EgressLimits,
    EgressPolicy,
    Resolver,
    system_resolver,
)
from corral.core.egress.errors import EgressError, EgressRefused
from corral.core.settings import ToolSettings
from tests.local_http import Answer, LocalServer, Received, certificates_for, network, serving

LOOPBACK_ONLY = EgressPolicy(allowed_networks=(network("127.0.0.1"),))


class ScriptedResolver:
    """Answers each lookup with the next of `answers` (the last one repeats); counts lookups."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    def __call__(self, host: str, _port: int) -> Sequence[str]:
        self.lookups.append(host)
        if len(self.answers) > 1:
            return self.answers.pop(0)
        return self.answers[0]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with serving("127.0.0.1") as running:
        yield running


async def client_with(
    policy: EgressPolicy = LOOPBACK_ONLY,
    resolver: Resolver = system_resolver,
    **limits: Any,
) -> EgressClient:
    return EgressClient(policy=policy, limits=EgressLimits(**limits), resolver=resolver)


@pytest.fixture
async def egress() -> AsyncIterator[EgressClient]:
    client = await client_with()
    yield client
    await client.aclose()


async def test_loopback_is_refused_without_the_allowance(server: LocalServer) -> None:
    client = EgressClient()
    try:
        for url in (
            server.url("/"),
            server.url("/", host="localhost"),
            f"http://[::1]:{server.port}/",
        ):
            with pytest.raises(EgressRefused) as refused:
                await client.request("GET", url)
            assert refused.value.code == "egress_address_refused"
            assert "loopback" in refused.value.detail
    finally:
        await client.aclose()
    assert server.received == []


async def test_the_allowance_reaches_the_server(server: LocalServer) -> None:
    client = EgressClient(policy=EgressPolicy(allow_private=True))
    try:
        response = await client.request(
            "POST", server.url("/things?x=1"), headers={"X-Test": "yes"}, content=b"{}"
        )
    finally:
        await client.aclose()
    assert (response.status, response.body, response.truncated) == (200, b'{"ok": true}', False)
    assert response.address == "127.0.0.1"
    [received] = server.received
    assert (received.method, received.path, received.body) == ("POST", "/things?x=1", b"{}")
    assert received.headers["x-test"] == "yes"
    assert received.headers["host"] == f"127.0.0.1:{server.port}"


async def test_dns_rebinding_connects_to_the_checked_address() -> None:
    """The name resolves to an allowed address first and to a refused one afterwards: the
    request goes to the first, checked, address, and the name is looked up only once."""
    with serving("127.0.0.1") as checked, serving("127.0.0.2", checked.port) as internal:
        resolver = ScriptedResolver(["127.0.0.1"], ["127.0.0.2"])
        client = await client_with(resolver=resolver)
        try:
            response = await client.request("GET", checked.url("/", host="rebind.test"))
        finally:
            await client.aclose()
    assert response.status == 200
    assert response.address == "127.0.0.1"
    assert resolver.lookups == ["rebind.test"]
    [received] = checked.received
    assert received.local_address == "127.0.0.1"
    assert received.headers["host"] == f"rebind.test:{checked.port}"
    assert internal.received == []


async def test_every_resolved_address_must_pass(server: LocalServer) -> None:
    resolver = ScriptedResolver(["127.0.0.1", "10.0.0.7"])
    client = await client_with(resolver=resolver)
    try:
        with pytest.raises(EgressRefused) as refused:
            await client.request("GET", server.url("/", host="mixed.test"))
    finally:
        await client.aclose()
    assert refused.value.code == "egress_address_refused"
    assert "10.0.0.7" in refused.value.detail
    assert server.received == []


async def test_resolution_failures_are_typed() -> None:
    def failing(host: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    for resolver in (failing, ScriptedResolver([])):
        client = await client_with(resolver=resolver)
        try:
            with pytest.raises(EgressError) as failed:
                await client.request("GET", "http://nowhere.test/")
        finally:
            await client.aclose()
        assert failed.value.code == "egress_dns_failed"


async def test_a_redirect_to_a_refused_address_is_refused(egress: EgressClient) -> None:
    with serving("127.0.0.1") as outside, serving("127.0.0.2") as internal:
        outside.routes["/go"] = lambda _: Answer(302, {"Location": internal.url("/secret")}, b"")
        with pytest.raises(EgressRefused) as refused:
            await egress.request("GET", outside.url("/go"))
    assert refused.value.code == "egress_address_refused"
    assert [r.path for r in outside.received] == ["/go"]
    assert internal.received == []


async def test_a_redirect_to_metadata_is_refused_even_with_the_allowance(
    server: LocalServer,
) -> None:
    server.routes["/go"] = lambda _: Answer(
        307, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""
    )
    client = EgressClient(policy=EgressPolicy(allow_private=True))
    try:
        with pytest.raises(EgressRefused) as refused:
            await client.request("GET", server.url("/go"))
    finally:
        await client.aclose()
    assert "metadata" in refused.value.detail


async def test_redirects_are_followed_up_to_the_limit(
    server: LocalServer, egress: EgressClient
) -> None:
    for hop in range(7):
        server.routes[f"/r{hop}"] = (
            lambda _, hop=hop: Answer(302, {"Location": f"/r{hop + 1}"}, b"")  # type: ignore[misc]
        )
    server.routes["/r5"] = lambda _: Answer(200, {"Content-Type": "text/plain"}, b"arrived")
    response = await egress.request("GET", server.url("/r0"))
    assert (response.status, response.body) == (200, b"arrived")
    assert response.url.path == "/r5"

    server.routes["/r5"] = lambda _: Answer(302, {"Location": "/r6"}, b"")
    with pytest.raises(EgressRefused) as refused:
        await egress.request("GET", server.url("/r0"))
    assert refused.value.code == "egress_too_many_redirects"


async def test_see_other_turns_a_post_into_a_get(server: LocalServer, egress: EgressClient) -> None:
    server.routes["/submit"] = lambda _: Answer(303, {"Location": "/result"}, b"")
    server.routes["/result"] = lambda _: Answer(200, {}, b"done")
    response = await egress.request(
        "POST",
        server.url("/submit"),
        headers={"Content-Type": "application/json"},
        content=b'{"a": 1}',
    )
    assert response.body == b"done"
    first, second = server.received
    assert (first.method, first.body) == ("POST", b'{"a": 1}')
    assert (second.method, second.body) == ("GET", b"")
    assert "content-type" not in second.headers


async def test_the_url_check_runs_on_every_hop(server: LocalServer, egress: EgressClient) -> None:
    server.routes["/allowed"] = lambda _: Answer(302, {"Location": "/forbidden"}, b"")
    checked: list[str] = []

    def only_allowed(url: httpx2.URL) -> None:
        checked.append(url.path)
        if url.path != "/allowed":
            raise EgressRefused("not covered", code="uri_not_authorized")

    with pytest.raises(EgressRefused) as refused:
        await egress.request("GET", server.url("/allowed"), check_url=only_allowed)
    assert refused.value.code == "uri_not_authorized"
    assert checked == ["/allowed", "/forbidden"]
    assert [r.path for r in server.received] == ["/allowed"]


async def test_credentials_headers_stay_with_their_origin() -> None:
    with serving("127.0.0.1") as first, serving("127.0.0.1") as second:
        first.routes["/"] = lambda _: Answer(307, {"Location": second.url("/")}, b"")
        client = await client_with()
        try:
            await client.request(
                "GET", first.url("/"), headers={"Authorization": "Bearer t", "X-Keep": "1"}
            )
        finally:
            await client.aclose()
    [arrived] = second.received
    assert "authorization" not in arrived.headers
    assert arrived.headers["x-keep"] == "1"


async def test_urls_that_are_not_plain_http_are_refused(egress: EgressClient) -> None:
    for url in (
        "ftp://example.com/",
        "http://user:pw@127.0.0.1/",
        "file:///etc/passwd",
        "http:///",
    ):
        with pytest.raises(EgressRefused) as refused:
            await egress.request("GET", url)
        assert refused.value.code == "egress_url_invalid", url


async def test_the_response_size_is_capped(server: LocalServer) -> None:
    server.routes["/big"] = lambda _: Answer(200, {}, b"x" * 10_000)
    server.routes["/bomb"] = lambda _: Answer(
        200, {"Content-Encoding": "gzip"}, gzip.compress(b"y" * 1_000_000)
    )
    client = await client_with(max_response_bytes=1024)
    try:
        for path in ("/big", "/bomb"):
            with pytest.raises(EgressError) as too_large:
                await client.request("GET", server.url(path))
            assert too_large.value.code == "egress_response_too_large"
        cut = await client.request("GET", server.url("/bomb"), truncate=True)
    finally:
        await client.aclose()
    assert (cut.body, cut.truncated) == (b"y" * 1024, True)


async def test_a_stalled_server_times_out(server: LocalServer) -> None:
    def stall(_: Received) -> Answer:
        server.release.wait()
        return Answer()

    server.routes["/stall"] = stall
    client = await client_with(read_timeout_seconds=0.2)
    try:
        with pytest.raises(EgressError) as timed_out:
            await client.request("GET", server.url("/stall"))
    finally:
        await client.aclose()
    assert timed_out.value.code == "egress_timeout"


async def test_the_total_timeout_covers_resolution() -> None:
    stuck = threading.Event()

    def hanging(host: str, port: int) -> Sequence[str]:
        stuck.wait(30)
        return ["127.0.0.1"]

    client = await client_with(resolver=hanging, total_timeout_seconds=0.2)
    try:
        with pytest.raises(EgressError) as timed_out:
            await client.request("GET", "http://slow-dns.test/")
    finally:
        stuck.set()
        await client.aclose()
    assert timed_out.value.code == "egress_timeout"


async def test_https_keeps_the_hostname_for_sni_and_the_certificate(tmp_path: Path) -> None:
    certificates = certificates_for("tool.test", tmp_path)
    with serving("127.0.0.1") as server:
        server.use_tls(certificates.server_context)
        client = EgressClient(
            policy=LOOPBACK_ONLY,
            resolver=ScriptedResolver(["127.0.0.1"]),
            verify=certificates.client_context,
        )
        try:
            response = await client.request(
                "GET", server.url("/", host="tool.test", scheme="https")
            )
            with pytest.raises(EgressError) as mismatch:
                await client.request("GET", server.url("/", host="other.test", scheme="https"))
        finally:
            await client.aclose()
    assert response.status == 200
    assert response.address == "127.0.0.1"
    assert server.received[0].headers["host"] == f"tool.test:{server.port}"
    assert mismatch.value.code == "egress_connect_failed"
    assert len(server.received) == 1


async def test_ipv6_targets_are_checked_and_reached_alike() -> None:
    with serving("::1") as server:
        client = await client_with(
            policy=EgressPolicy(allowed_networks=(network("::1"),)),
            resolver=ScriptedResolver(["::1"]),
        )
        try:
            literal = await client.request("GET", server.url("/"))
            named = await client.request("GET", server.url("/", host="v6.test"))
        finally:
            await client.aclose()
    assert (literal.address, named.address) == ("::1", "::1")
    assert [r.headers["host"] for r in server.received] == [
        f"[::1]:{server.port}",
        f"v6.test:{server.port}",
    ]


async def test_an_ipv4_mapped_answer_is_judged_as_ipv4(server: LocalServer) -> None:
    client = await client_with(
        policy=EgressPolicy(allowed_networks=(network("::1"),)),
        resolver=ScriptedResolver(["::ffff:127.0.0.1"]),
    )
    try:
        with pytest.raises(EgressRefused) as refused:
            await client.request("GET", server.url("/", host="mapped.test"))
    finally:
        await client.aclose()
    assert "loopback" in refused.value.detail
    assert server.received == []


async def test_the_tools_client_follows_the_settings(server: LocalServer) -> None:
    settings = ToolSettings(allow_private_targets=True, max_response_bytes=2048)
    client = EgressClient.for_tools(settings)
    server.routes["/big"] = lambda _: Answer(200, {}, b"b" * 4096)
    try:
        assert client.policy.allow_private is True
        assert client.limits.max_response_bytes == 2048
        cut = await client.request("GET", server.url("/big"), truncate=True)
    finally:
        await client.aclose()
    assert len(cut.body) == 2048
    assert server.received[0].headers["user-agent"] == "corral-tools"
    assert EgressClient.for_tools(ToolSettings()).policy.allow_private is False
