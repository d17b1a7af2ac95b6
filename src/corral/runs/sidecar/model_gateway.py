"""The sidecar's model gateway: OpenAI-compatible calls routed to the run's provider, metered.

The runtime in the sandbox calls `/v1/chat/completions` with no key; the gateway resolves the
manifest's provider (a system provider, or one of the run's application's own), refuses any
other model than the manifest's, adds the key, and forwards: as is to an `openai-chat` provider
(streamed chunks passed through as they arrive), translated for an `anthropic-messages` one.
Each call, answered or failed, becomes one `model_call` event with tokens and cost. Provider
failures come back in OpenAI's error shape with the provider's status, the key scrubbed out.

One gateway serves every run of a process: it shares one HTTP client (pooled connections) and
caches application providers for a few seconds (`corral.providers.registry`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx2
import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.crypto import DecryptionFailed, EncryptionKeyring
from corral.core.settings import SystemProvider
from corral.governance.budgets.reservations import Reservation
from corral.providers.registry import DEFAULT_CACHE_SECONDS, ProviderEndpoint, ProviderRegistry
from corral.runs.sidecar import anthropic_translation as anthropic
from corral.runs.sidecar.contracts import EventSink, SidecarRun
from corral.runs.sidecar.model_budgets import BudgetGate
from corral.runs.sidecar.model_errors import (
    ModelGatewayError,
    bad_response,
    scrub,
    stream_error,
    transport_error,
    upstream_error,
)
from corral.runs.sidecar.provider_answers import UsageScanner, json_object, read_capped, sse_lines
from corral.telemetry.cost import Cost, PriceCatalog, compute_cost
from corral.traces.ingest_config import IngestConfigCache

CONNECT_TIMEOUT_SECONDS = 10.0
# Long generations stream slowly or answer late; the run's own timeout bounds the whole.
READ_TIMEOUT_SECONDS = 300.0
MAX_CONNECTIONS = 200
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}
_ENDED_EARLY = "the provider's stream ended before its end"
_SSE = {"Content-Type": "application/json", "Accept": "text/event-stream"}


def build_http_client() -> httpx2.AsyncClient:
    """The shared client for provider calls: pooled, bounded, never following redirects.

    A redirect could carry the key to another host (`x-api-key` is not dropped on one), so a
    provider that redirects fails instead.
    """
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        limits=httpx2.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
        ),
        follow_redirects=False,
    )


@dataclass(slots=True)
class _Call:
    """One model call being metered."""

    provider: ProviderEndpoint
    model: str
    stream: bool
    started_at_ns: int = field(default_factory=time.time_ns)
    usage: dict[str, Any] | None = None
    error: str | None = None
    # The budgets' hold for this call, and whether the request left for the provider.
    reservation: Reservation | None = None
    sent: bool = False


def _refusal(call: _Call, status: int, raw: bytes) -> ModelGatewayError:
    return upstream_error(call.provider.api, call.provider.api_key, status, raw)


class ProviderModelGateway:
    """`ModelGateway` over real providers; one per process, shared by every run."""

    def __init__(
        self,
        system_providers: Sequence[SystemProvider],
        sessions: async_sessionmaker[AsyncSession],
        keyring: EncryptionKeyring,
        price_catalog: PriceCatalog,
        http: httpx2.AsyncClient,
        *,
        price_overrides: IngestConfigCache | None = None,
        provider_cache_seconds: float = DEFAULT_CACHE_SECONDS,
        budgets: BudgetGate | None = None,
    ) -> None:
        self.providers = ProviderRegistry(
            system_providers, sessions, keyring, cache_seconds=provider_cache_seconds
        )
        self._sessions = sessions
        self._catalog = price_catalog
        self._http = http
        self._overrides = price_overrides
        self._budgets = budgets

    async def list_models(self, run: SidecarRun) -> list[dict[str, Any]]:
        reference = run.manifest.model
        if reference.name is None:
            return []
        return [
            {"id": reference.name, "object": "model", "created": 0, "owned_by": reference.provider}
        ]

    async def _resolve(self, run: SidecarRun, body: dict[str, Any], stream: bool) -> _Call:
        reference = run.manifest.model
        model = reference.name
        if model is None:
            raise ModelGatewayError(
                400,
                "this run's model is scripted, not served by a provider",
                kind="invalid_request_error",
                code="model_not_found",
            )
        asked = body.get("model")
        if asked not in (None, model):
            raise ModelGatewayError(
                400,
                f"this run may only call the model {model!r}, not {str(asked)[:200]!r}",
                kind="invalid_request_error",
                code="model_not_allowed",
            )
        try:
            provider = await self.providers.find(run.application_id, reference.provider)
        except DecryptionFailed:
            # The key was sealed under a key CORRAL_ENCRYPTION_KEYS no longer holds.
            raise ModelGatewayError(
                500,
                f"the key of the provider {reference.provider!r} cannot be decrypted",
                kind="server_error",
                code="provider_key_unavailable",
            ) from None
        if provider is None:
            raise ModelGatewayError(
                404,
                f"no model provider {reference.provider!r} for this application",
                kind="invalid_request_error",
                code="provider_not_found",
            )
        if model not in provider.models:
            raise ModelGatewayError(
                400,
                f"the provider {provider.id!r} does not offer the model {model!r}",
                kind="invalid_request_error",
                code="model_not_offered",
            )
        return _Call(provider, model, stream)

    async def _reserve(self, run: SidecarRun, call: _Call, body: dict[str, Any]) -> None:
        """Hold the call's estimated cost in its budgets; refuses before the provider is asked."""
        if self._budgets is not None:
            overrides = await self._price_overrides(run.application_id)
            call.reservation = await self._budgets.reserve(run, call.model, body, overrides)

    def _request(self, call: _Call, body: dict[str, Any]) -> httpx2.Request:
        provider = call.provider
        if provider.api == "anthropic-messages":
            payload = anthropic.to_anthropic_request({**body, "stream": call.stream}, call.model)
            headers = {
                **(_SSE if call.stream else _JSON),
                "x-api-key": provider.api_key,
                "anthropic-version": anthropic.ANTHROPIC_VERSION,
            }
            url = f"{provider.base_url}/messages"
        else:
            payload = {**body, "model": call.model}
            if not call.stream:
                payload.pop("stream", None)
                payload.pop("stream_options", None)
            else:
                payload["stream"] = True
                payload["stream_options"] = {
                    **(body.get("stream_options") or {}),
                    "include_usage": True,
                }
            headers = {
                **(_SSE if call.stream else _JSON),
                "Authorization": f"Bearer {provider.api_key}",
            }
            url = f"{provider.base_url}/chat/completions"
        return self._http.build_request("POST", url, content=orjson.dumps(payload), headers=headers)

    async def chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> dict[str, Any]:
        call: _Call | None = None
        failure: str | None = None
        try:
            call = await self._resolve(run, body, stream=False)
            await self._reserve(run, call, body)
            call.sent = True
            try:
                response = await self._http.send(self._request(call, body), stream=True)
                try:
                    raw = await read_capped(response)
                finally:
                    await response.aclose()
            except httpx2.HTTPError as exc:
                raise transport_error(exc) from None
            if response.status_code >= 400:
                raise _refusal(call, response.status_code, raw)
            answer = json_object(raw)
            if call.provider.api == "anthropic-messages":
                answer = anthropic.to_openai_completion(answer, call.model)
            call.usage = answer.get("usage")
            return answer
        except ModelGatewayError as exc:
            failure = str(exc.body["error"]["message"])
            if call is not None:
                call.error = failure
            raise
        except BaseException:
            # Cancelled with its run: whatever the provider did, the call did not complete.
            if call is not None and call.error is None:
                call.error = "interrupted"
            raise
        finally:
            await self._meter(run, sink, call, body, failure)

    async def stream_chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> AsyncGenerator[bytes]:
        """Raises ModelGatewayError before the first chunk when the provider refuses the call."""
        call: _Call | None = None
        failure: str | None = None
        try:
            call = await self._resolve(run, body, stream=True)
            await self._reserve(run, call, body)
            call.sent = True
            try:
                response = await self._http.send(self._request(call, body), stream=True)
            except httpx2.HTTPError as exc:
                raise transport_error(exc) from None
            try:
                if response.status_code >= 400:
                    try:
                        raw = await read_capped(response)
                    except httpx2.HTTPError as exc:
                        raise transport_error(exc) from None
                    raise _refusal(call, response.status_code, raw)
                chunks = (
                    self._translate(call, response, body)
                    if call.provider.api == "anthropic-messages"
                    else self._pass_through(call, response)
                )
                async with aclosing(chunks):
                    async for chunk in chunks:
                        yield chunk
            finally:
                await response.aclose()
        except ModelGatewayError as exc:
            failure = str(exc.body["error"]["message"])
            if call is not None:
                call.error = failure
            raise
        except BaseException:
            # Cancelled, or the reader went away (GeneratorExit) before the end.
            if call is not None and call.error is None:
                call.error = "interrupted"
            raise
        finally:
            await self._meter(run, sink, call, body, failure)

    async def _pass_through(self, call: _Call, response: httpx2.Response) -> AsyncGenerator[bytes]:
        scanner = UsageScanner()
        try:
            async for data in response.aiter_bytes():
                yield data
                scanner.scan(data)
        except httpx2.HTTPError as exc:
            call.error = transport_error(exc).body["error"]["message"]
            yield stream_error(transport_error(exc))
        call.usage = scanner.usage
        if scanner.error is not None:
            call.error = scrub(scanner.error, call.provider.api_key)
        elif not scanner.done and call.error is None:
            call.error = _ENDED_EARLY
            yield stream_error(bad_response(_ENDED_EARLY))

    async def _translate(
        self, call: _Call, response: httpx2.Response, body: dict[str, Any]
    ) -> AsyncGenerator[bytes]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        translator = anthropic.StreamTranslator(call.model, include_usage=include_usage)
        ended = False
        try:
            async for line in sse_lines(response):
                if not line.startswith(b"data:"):
                    continue
                event = orjson.loads(line[5:])
                out = translator.feed(event)
                ended = ended or event.get("type") in ("message_stop", "error")
                if out:
                    yield out
        except (httpx2.HTTPError, orjson.JSONDecodeError, ModelGatewayError) as exc:
            if isinstance(exc, ModelGatewayError):
                error = exc
            elif isinstance(exc, httpx2.HTTPError):
                error = transport_error(exc)
            else:
                error = bad_response("the provider's stream is not JSON")
            call.error = error.body["error"]["message"]
            yield stream_error(error)
            ended = True
        call.usage = anthropic.openai_usage(translator.usage) if translator.usage else None
        if translator.error is not None:
            call.error = scrub(translator.error["error"]["message"], call.provider.api_key)
        if not ended:
            call.error = _ENDED_EARLY
            yield stream_error(bad_response(_ENDED_EARLY))

    async def _meter(
        self,
        run: SidecarRun,
        sink: EventSink,
        call: _Call | None,
        body: dict[str, Any],
        refusal: str | None,
    ) -> None:
        ended = time.time_ns()
        usage = (call.usage if call else None) or {}
        input_tokens = usage.get("prompt_tokens")
        output_tokens = usage.get("completion_tokens")
        cache_read = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        cache_write = usage.get("cache_creation_input_tokens")
        model = call.model if call else (run.manifest.model.name or str(body.get("model", "")))
        cost_usd: float | None = None
        exact: Decimal | None = None
        if call is not None and (input_tokens is not None or output_tokens is not None):
            cost = compute_cost(
                model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
                catalog=self._catalog,
                overrides=await self._price_overrides(run.application_id),
            )
            exact = cost.total_usd if isinstance(cost, Cost) else None
            cost_usd = float(exact) if exact is not None else None
        if call is not None and call.reservation is not None and self._budgets is not None:
            await self._budgets.settle(run, call.reservation, exact, called=call.sent)
        data: dict[str, Any] = {
            "provider": run.manifest.model.provider,
            "model": model,
            "started_at_ns": call.started_at_ns if call else ended,
            "ended_at_ns": ended,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": cost_usd,
            "status": "error" if call is None or call.error else "ok",
            "stream": bool(call.stream) if call else bool(body.get("stream")),
        }
        if cache_read:
            data["cache_read_tokens"] = cache_read
        error = call.error if call is not None else refusal
        if error:
            data["error"] = error
        await sink.emit("model_call", data)

    async def _price_overrides(self, application_id: str) -> Any:
        if self._overrides is None:
            return None
        async with self._sessions() as session:
            return (await self._overrides.get(session, application_id)).price_overrides
