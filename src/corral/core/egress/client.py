"""The guarded client for outgoing requests to addresses chosen by users or agents.

Each hop resolves its host once, off the event loop, refuses the request when any resolved
address is not allowed (see `addresses`), and then connects to the checked address itself: the
URL handed to the transport names the IP, while the `Host` header, TLS SNI and certificate
verification keep the hostname. A resolver that answers differently the second time (DNS
rebinding) therefore never gets a second question. Redirects are followed here, not by httpx,
so every hop is checked again, by the address rules and by the caller's `check_url`.

Connections are not kept alive: a pooled connection is keyed by the IP, and reusing it for
another hostname would present the wrong SNI. Proxies from the environment are ignored (a proxy
would resolve the name itself), and so are cookies.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import httpx2

from corral.core.egress.addresses import IPAddress, IPNetwork, parse_address, refusal
from corral.core.egress.errors import EgressError, EgressRefused
from corral.core.settings import ToolSettings

# A blocking name lookup: the addresses (as text) `host` resolves to. Runs in a worker thread.
Resolver = Callable[[str, int], Sequence[str]]
# Raises EgressRefused when the caller does not want a hop to go to this URL.
UrlCheck = Callable[[httpx2.URL], None]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Sent only to the origin they were meant for, as browsers and httpx do.
_ORIGIN_BOUND_HEADERS = ("authorization", "proxy-authorization", "cookie")


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class EgressLimits:
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 30.0
    total_timeout_seconds: float = 60.0
    max_response_bytes: int = 1_048_576
    max_redirects: int = 5


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Which addresses are allowed beyond public ones (metadata addresses never are)."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True, slots=True)
class EgressResponse:
    status: int
    headers: httpx2.Headers
    body: bytes
    # The response had more than `max_response_bytes`; `body` holds the first ones.
    truncated: bool
    # The URL of the hop that answered (with its hostname) and the address it came from.
    url: httpx2.URL
    address: str


@dataclass(frozen=True, slots=True)
class _Hop:
    method: str
    url: httpx2.URL
    headers: dict[str, str]
    content: bytes | None


@dataclass(slots=True)
class _Budget:
    redirects_left: int
    addresses: list[str] = field(default_factory=list)


def _validated(url: httpx2.URL) -> httpx2.URL:
    if url.scheme not in _DEFAULT_PORTS:
        raise EgressRefused("only http and https URLs may be requested", code="egress_url_invalid")
    if not url.host:
        raise EgressRefused("the URL names no host", code="egress_url_invalid")
    if url.userinfo:
        raise EgressRefused("the URL must not carry credentials", code="egress_url_invalid")
    return url


def _origin(url: httpx2.URL) -> tuple[str, str, int]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS[url.scheme]


def _redirected(hop: _Hop, status: int, location: str) -> _Hop:
    try:
        target = _validated(hop.url.join(location).copy_with(fragment=None))
    except httpx2.InvalidURL:
        raise EgressRefused(
            "the server redirected to an invalid URL", code="egress_url_invalid"
        ) from None
    method, content, headers = hop.method, hop.content, dict(hop.headers)
    # What browsers do: 303 always, and 301/302 after a POST, become a GET without a body.
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, content = "GET", None
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if _origin(target) != _origin(hop.url):
        headers = {k: v for k, v in headers.items() if k.lower() not in _ORIGIN_BOUND_HEADERS}
    return _Hop(method, target, headers, content)


def limits_from(settings: ToolSettings) -> EgressLimits:
    return EgressLimits(
        connect_timeout_seconds=settings.connect_timeout_seconds,
        read_timeout_seconds=settings.read_timeout_seconds,
        total_timeout_seconds=settings.total_timeout_seconds,
        max_response_bytes=settings.max_response_bytes,
    )


class EgressClient:
    """Sends requests to user-chosen URLs without letting them reach internal addresses."""

    def __init__(
        self,
        *,
        policy: EgressPolicy | None = None,
        limits: EgressLimits | None = None,
        resolver: Resolver = system_resolver,
        verify: ssl.SSLContext | bool = True,
        user_agent: str = "corral",
    ) -> None:
        self.policy = policy or EgressPolicy()
        self.limits = limits or EgressLimits()
        self._resolver = resolver
        self._user_agent = user_agent
        self._transport = httpx2.AsyncHTTPTransport(
            verify=verify,
            trust_env=False,
            limits=httpx2.Limits(max_keepalive_connections=0),
        )
        self._timeouts = httpx2.Timeout(
            self.limits.read_timeout_seconds,
            connect=self.limits.connect_timeout_seconds,
        ).as_dict()

    @classmethod
    def for_tools(cls, settings: ToolSettings) -> EgressClient:
        """The client hosted runs' tools go through (one per process)."""
        return cls(
            policy=EgressPolicy(allow_private=settings.allow_private_targets),
            limits=limits_from(settings),
            user_agent="corral-tools",
        )

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def request(
        self,
        method: str,
        url: str | httpx2.URL,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        check_url: UrlCheck | None = None,
        truncate: bool = False,
    ) -> EgressResponse:
        """Send the request, following up to `max_redirects` redirects, each one checked.

        A body beyond `max_response_bytes` raises `egress_response_too_large`, or with
        `truncate` is cut there (and the response says so).
        """
        try:
            first = _validated(httpx2.URL(url))
        except httpx2.InvalidURL as exc:
            raise EgressRefused(f"not a valid URL: {exc}", code="egress_url_invalid") from None
        hop = _Hop(method.upper(), first, dict(headers or {}), content)
        budget = _Budget(self.limits.max_redirects)
        try:
            with anyio.fail_after(self.limits.total_timeout_seconds):
                return await self._follow(hop, budget, check_url, truncate)
        except TimeoutError:
            raise EgressError(
                f"the request to {first.host} took longer than "
                f"{self.limits.total_timeout_seconds:g} seconds",
                code="egress_timeout",
            ) from None

    async def _follow(
        self, hop: _Hop, budget: _Budget, check_url: UrlCheck | None, truncate: bool
    ) -> EgressResponse:
        while True:
            if check_url is not None:
                check_url(hop.url)
            address = await self._checked_address(hop.url)
            budget.addresses.append(address)
            response = await self._send(hop, address)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    if budget.redirects_left == 0:
                        raise EgressRefused(
                            f"more than {self.limits.max_redirects} redirects",
                            code="egress_too_many_redirects",
                        )
                    budget.redirects_left -= 1
                    hop = _redirected(hop, response.status_code, location)
                    continue
                body, truncated = await self._read(response, hop.url, truncate)
            finally:
                await response.aclose()
            return EgressResponse(
                response.status_code, response.headers, body, truncated, hop.url, address
            )

    async def _checked_address(self, url: httpx2.URL) -> str:
        """The one address this hop connects to, after every resolved address passed."""
        host = url.host
        literal = parse_address(host)
        if literal is not None:
            candidates: list[IPAddress] = [literal]
        else:
            port = url.port or _DEFAULT_PORTS[url.scheme]
            try:
                answers = await anyio.to_thread.run_sync(
                    self._resolver, url.raw_host.decode("ascii"), port, abandon_on_cancel=True
                )
            except (OSError, UnicodeError) as exc:
                raise EgressError(
                    f"cannot resolve {host}: {exc}", code="egress_dns_failed"
                ) from None
            candidates = [a for a in (parse_address(text) for text in answers) if a is not None]
            if not candidates:
                raise EgressError(f"{host} resolves to no address", code="egress_dns_failed")
        # Every answer must pass: which one a client picks is not ours to predict.
        for candidate in candidates:
            why = refusal(
                candidate,
                allow_private=self.policy.allow_private,
                allowed=self.policy.allowed_networks,
            )
            if why is not None:
                raise EgressRefused(
                    f"{host} resolves to {candidate}, {why}", code="egress_address_refused"
                )
        return str(candidates[0])

    async def _send(self, hop: _Hop, address: str) -> httpx2.Response:
        url = hop.url
        headers = {"User-Agent": self._user_agent, **hop.headers}
        headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        headers["Host"] = url.netloc.decode("ascii")
        extensions: dict[str, object] = {"timeout": self._timeouts}
        if url.scheme == "https" and parse_address(url.host) is None:
            extensions["sni_hostname"] = url.raw_host.decode("ascii")
        request = httpx2.Request(
            hop.method,
            url.copy_with(host=address.split("%", 1)[0]),
            headers=headers,
            content=hop.content,
            extensions=extensions,
        )
        try:
            return await self._transport.handle_async_request(request)
        except httpx2.TimeoutException:
            raise EgressError(f"{url.host} did not answer in time", code="egress_timeout") from None
        except httpx2.ConnectError as exc:
            raise EgressError(
                f"cannot connect to {url.host}: {exc}", code="egress_connect_failed"
            ) from None
        except httpx2.HTTPError as exc:
            raise EgressError(f"the request to {url.host} failed: {exc}") from None

    async def _read(
        self, response: httpx2.Response, url: httpx2.URL, truncate: bool
    ) -> tuple[bytes, bool]:
        cap = self.limits.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        try:
            # Decoded bytes: a small compressed body cannot expand past the cap.
            async for chunk in response.aiter_bytes():
                if size + len(chunk) > cap:
                    if not truncate:
                        raise EgressError(
                            f"the response from {url.host} is larger than {cap} bytes",
                            code="egress_response_too_large",
                        )
                    chunks.append(chunk[: cap - size])
                    return b"".join(chunks), True
                chunks.append(chunk)
                size += len(chunk)
        except httpx2.TimeoutException:
            raise EgressError(f"{url.host} did not answer in time", code="egress_timeout") from None
        except httpx2.HTTPError as exc:
            raise EgressError(f"reading the response of {url.host} failed: {exc}") from None
        return b"".join(chunks), False
