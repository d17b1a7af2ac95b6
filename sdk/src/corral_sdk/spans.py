"""The client's own OpenTelemetry pipeline: tool and model spans exported to Corral over OTLP.

The client builds its own `TracerProvider` and never touches the global one, so an application
that already exports its telemetry elsewhere keeps doing so unchanged. Spans leave in batches
from a background thread (`BatchSpanProcessor`) to `{endpoint}/v1/traces`, OTLP/HTTP protobuf,
authenticated with the API key in a header only.

A tool span whose decision is not a plain allow carries the `corral.decision.*` attributes that
the server turns into a decision evidence row (source `sdk`), keyed by a fresh decision id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NoOpTracer, Span, Status, StatusCode, Tracer

from corral_sdk.call import ProposedCall, SpanValue, span_value
from corral_sdk.policy import Decision
from corral_sdk.version import __version__

TRACES_PATH = "/v1/traces"
DECISION_PREFIX = "corral.decision."
SOURCE = "sdk"


def new_decision_id() -> str:
    return f"dec_sdk_{uuid.uuid4().hex}"


def decision_attributes(decision: Decision, decision_id: str) -> dict[str, SpanValue]:
    """The `corral.decision.*` attributes of a decision (contract 3 of the server)."""
    attrs: dict[str, SpanValue] = {
        DECISION_PREFIX + "action": decision.action.value,
        DECISION_PREFIX + "id": decision_id,
        DECISION_PREFIX + "source": SOURCE,
    }
    if decision.policy_id is not None:
        attrs[DECISION_PREFIX + "policy_id"] = decision.policy_id
    if decision.policy_name is not None:
        attrs[DECISION_PREFIX + "policy_name"] = decision.policy_name
    if decision.message is not None:
        attrs[DECISION_PREFIX + "message"] = decision.message
    if decision.shadow:
        attrs[DECISION_PREFIX + "shadow_policy_ids"] = tuple(h.policy_id for h in decision.shadow)
    if decision.matched:
        # Which log, alert or admitted throttle policies matched, for whoever reads the span.
        attrs[DECISION_PREFIX + "matched_policy_ids"] = tuple(h.policy_id for h in decision.matched)
    if decision.errors:
        attrs[DECISION_PREFIX + "error_policy_ids"] = tuple(f.policy_id for f in decision.errors)
    return attrs


def call_attributes(call: ProposedCall) -> dict[str, SpanValue]:
    return {key: span_value(value) for key, value in call.attributes.items()}


def mark_failed(span: Span, error: BaseException) -> None:
    """The body of a call raised: an error span, with the exception as an event."""
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


class SpanRecorder:
    """The tracer of one client and the pipeline behind it (none when export is off)."""

    def __init__(
        self,
        api_key: str,
        endpoint: str,
        *,
        enabled: bool,
        timeout_seconds: float,
        service_name: str | None,
        exporter: SpanExporter | None = None,
    ) -> None:
        self._provider: TracerProvider | None = None
        self.tracer: Tracer = NoOpTracer()
        if not enabled:
            return
        if exporter is None:
            exporter = OTLPSpanExporter(
                endpoint=endpoint + TRACES_PATH,
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=timeout_seconds,
            )
        resource_attrs: dict[str, str] = {"telemetry.distro.name": "corral-sdk"}
        if service_name:
            resource_attrs["service.name"] = service_name
        self._provider = TracerProvider(resource=Resource.create(resource_attrs))
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self._provider.get_tracer("corral_sdk", __version__)

    def record_check(
        self, call: ProposedCall, decision: Decision | None, decision_id: str | None
    ) -> None:
        """A span for a decision taken without running the tool (`Client.check`)."""
        if self._provider is None:
            return
        self.tracer.start_span(
            f"execute_tool {call.tool_name}",
            attributes=self._attributes(call, decision, decision_id),
        ).end()

    @contextmanager
    def tool_span(self, call: ProposedCall) -> Iterator[Span]:
        """The current span around a guarded call; the body's spans become its children."""
        with self.tracer.start_as_current_span(
            f"execute_tool {call.tool_name}",
            attributes=call_attributes(call),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield span

    @staticmethod
    def _attributes(
        call: ProposedCall, decision: Decision | None, decision_id: str | None
    ) -> Mapping[str, SpanValue]:
        attrs = call_attributes(call)
        if decision is not None and decision_id is not None:
            attrs.update(decision_attributes(decision, decision_id))
        return attrs

    def flush(self, timeout_seconds: float) -> bool:
        """Export every finished span now; whether it finished in time."""
        if self._provider is None:
            return True
        return self._provider.force_flush(int(timeout_seconds * 1000))

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None
