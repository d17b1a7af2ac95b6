"""A hosted run's trace: a root span for the run, a child for every model and tool call.

The spans are built as OTLP span records with the GenAI semantic-convention attributes an
external agent would send, and go through the same ingest path (`build_rows`: normalize, price,
redact, sample; then the batched writer), so a hosted run is queried like any other trace.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from corral.runs.executor import Finished
from corral.telemetry.records import STATUS_ERROR, STATUS_OK, SpanRecord

_SPAN_KIND_INTERNAL = 1
_SPAN_KIND_CLIENT = 3
_SCOPE = "corral.runs"


def _record(
    *,
    trace_id: str,
    span_id: str,
    parent: str | None,
    name: str,
    kind: int,
    start_ns: int,
    end_ns: int,
    ok: bool,
    message: str,
    attributes: dict[str, Any],
    resource: dict[str, Any],
) -> SpanRecord:
    end_ns = max(end_ns, start_ns)
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "trace_state": "",
        "name": name,
        "kind": kind,
        "start_time_unix_nano": start_ns,
        "end_time_unix_nano": end_ns,
        "duration_nanos": end_ns - start_ns,
        "status_code": STATUS_OK if ok else STATUS_ERROR,
        "status_message": message,
        "attributes": attributes,
        "resource_attributes": resource,
        "scope_name": _SCOPE,
        "scope_version": "",
        "events": [],
        "links": [],
    }


def run_spans(finished: Finished) -> list[SpanRecord]:
    run = finished.sidecar_run
    if run is None:
        return []
    root = run.root_span_id or secrets.token_hex(8)
    common: dict[str, Any] = {
        "corral.run.id": run.run_id,
        "gen_ai.agent.name": run.agent_name,
    }
    if run.agent_id:
        common["gen_ai.agent.id"] = run.agent_id
    if run.end_user_id:
        common["corral.end_user.id"] = run.end_user_id
    resource: dict[str, Any] = {"service.name": "corral-run", "corral.run.id": run.run_id}
    outcome = finished.outcome
    spans = [
        _record(
            trace_id=run.trace_id,
            span_id=root,
            parent=None,
            name=f"invoke_agent {run.agent_name}",
            kind=_SPAN_KIND_INTERNAL,
            start_ns=finished.started_ns,
            end_ns=finished.ended_ns,
            ok=outcome.error_code is None,
            message=outcome.error_message or "",
            attributes={
                **common,
                "gen_ai.operation.name": "invoke_agent",
                "corral.run.status": outcome.status,
            },
            resource=resource,
        )
    ]
    for kind, data in finished.recorder.calls:
        start = int(data.get("started_at_ns") or finished.started_ns)
        end = int(data.get("ended_at_ns") or start)
        ok = data.get("status") == "ok"
        if kind == "model_call":
            model = str(data.get("model") or "")
            attributes = {
                **common,
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": str(data.get("provider") or ""),
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": int(data.get("input_tokens") or 0),
                "gen_ai.usage.output_tokens": int(data.get("output_tokens") or 0),
            }
            name = f"chat {model}"
            span_kind = _SPAN_KIND_CLIENT
        else:
            tool = str(data.get("tool") or "")
            decision = data.get("decision") or {}
            attributes = {
                **common,
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool,
                "corral.tool.args": orjson.dumps(data.get("arguments") or {}).decode(),
            }
            action = decision.get("action") if isinstance(decision, dict) else None
            if action and action != "allow":
                attributes["corral.decision.action"] = str(action)
                attributes["corral.decision.source"] = "sidecar"
                # The gateway recorded the decision; its id lets ingest link, not duplicate, it.
                for key in ("id", "policy_id", "policy_name", "message"):
                    value = decision.get("decision_id" if key == "id" else key)
                    if value:
                        attributes[f"corral.decision.{key}"] = str(value)
            name = f"tool.{tool}"
            span_kind = _SPAN_KIND_INTERNAL
            ok = data.get("status") in ("ok", "refused")
        spans.append(
            _record(
                trace_id=run.trace_id,
                span_id=secrets.token_hex(8),
                parent=root,
                name=name,
                kind=span_kind,
                start_ns=start,
                end_ns=end,
                ok=ok,
                message=str(data.get("error") or ""),
                attributes=attributes,
                resource=resource,
            )
        )
    return spans
