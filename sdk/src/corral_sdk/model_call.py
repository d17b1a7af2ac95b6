"""A model call span: `with client.model_call(model=..., provider=...) as call: call.record(...)`.

The span carries the GenAI semantic-convention attributes the server reads for cost and usage
(`gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.provider.name`,
`gen_ai.usage.input_tokens`, …). It is the current span while the block runs, so spans the
block creates (a tool the model asked for, say) become its children. Works with `with` and
`async with`.
"""

from __future__ import annotations

from contextvars import Token
from types import TracebackType

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Tracer

from corral_sdk.call import SpanValue
from corral_sdk.spans import mark_failed


def model_call_attributes(
    model: str, provider: str | None, operation: str, agent: str | None, end_user: str | None
) -> dict[str, SpanValue]:
    attributes: dict[str, SpanValue] = {
        "gen_ai.operation.name": operation,
        "gen_ai.request.model": model,
    }
    if provider:
        attributes["gen_ai.provider.name"] = provider
    if agent:
        attributes["gen_ai.agent.name"] = agent
        attributes["corral.agent.name"] = agent
    if end_user:
        attributes["corral.end_user.id"] = end_user
    return attributes


class ModelCall:
    """One model call being recorded; `record()` adds what the provider reported."""

    def __init__(self, tracer: Tracer, name: str, attributes: dict[str, SpanValue]) -> None:
        self._tracer = tracer
        self._name = name
        self._attributes = attributes
        self._span: Span | None = None
        self._token: Token[Context] | None = None

    def record(
        self,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        response_model: str | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        finish_reason: str | None = None,
    ) -> None:
        """Record the usage of the call (only the values given)."""
        values: dict[str, SpanValue | None] = {
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            "gen_ai.response.model": response_model,
            "gen_ai.usage.cache_read.input_tokens": cache_read_tokens,
            "gen_ai.usage.cache_creation.input_tokens": cache_write_tokens,
            "gen_ai.usage.reasoning.output_tokens": reasoning_tokens,
            "gen_ai.response.finish_reasons": (finish_reason,) if finish_reason else None,
        }
        given = {key: value for key, value in values.items() if value is not None}
        if self._span is None:
            self._attributes.update(given)
        else:
            self._span.set_attributes(given)

    @property
    def span(self) -> Span | None:
        """The span while the block runs (to add attributes of your own)."""
        return self._span

    def __enter__(self) -> ModelCall:
        span = self._tracer.start_span(self._name, attributes=self._attributes)
        self._span = span
        self._token = otel_context.attach(trace.set_span_in_context(span))
        return self

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        span = self._span
        assert span is not None, "the model call was not entered"
        if error is not None:
            mark_failed(span, error)
        if self._token is not None:
            otel_context.detach(self._token)
            self._token = None
        span.end()

    async def __aenter__(self) -> ModelCall:
        return self.__enter__()

    async def __aexit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(error_type, error, traceback)
