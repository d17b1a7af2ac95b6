"""How a run ended, from what its sandbox and runtime reported, to a terminal status and error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from corral.agents.manifest import schema_validator
from corral.runs.models import CANCELLED, FAILED, SUCCEEDED, TIMED_OUT
from corral.runs.recorder import RunRecorder
from corral.runs.sandboxes.base import SandboxExit

Ending = Literal["exited", "timed_out", "cancelled", "halted", "lease_lost", "start_failed"]

_EXIT_REASON_CODES = {
    "memory_limit": ("memory_limit_exceeded", "the run used more memory than its limit"),
    "cpu_limit": ("cpu_limit_exceeded", "the run used more CPU time than its limit"),
    "process_limit": ("process_limit_exceeded", "the run started more processes than its limit"),
    "killed": ("runtime_killed", "the run's sandbox was killed"),
}


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    output: Any = None
    error_code: str | None = None
    error_message: str | None = None
    error_details: Any = None


def decide(
    ending: Ending,
    recorder: RunRecorder,
    sandbox_exit: SandboxExit | None,
    *,
    output_schema: dict[str, Any] | None,
    timeout_seconds: int,
    start_error: str | None = None,
    stop_detail: str | None = None,
) -> Outcome:
    if ending == "halted":
        # A halt ends the run as failed with its own code (not a cancel: nobody asked the run
        # to stop, a kill switch did).
        return Outcome(
            FAILED, error_code="halted", error_message=stop_detail or "the run was halted"
        )
    if ending == "cancelled":
        return Outcome(CANCELLED, error_code="cancelled", error_message="the run was cancelled")
    if ending == "timed_out":
        return Outcome(
            TIMED_OUT,
            error_code="timeout",
            error_message=f"the run did not finish within {timeout_seconds} seconds",
        )
    if ending == "start_failed":
        return Outcome(
            FAILED, error_code="sandbox_start_failed", error_message=start_error or "unknown"
        )
    if recorder.has_output:
        return _checked_output(recorder.output, output_schema)
    if recorder.runtime_error is not None:
        return Outcome(
            FAILED,
            error_code=str(recorder.runtime_error.get("code") or "runtime_error"),
            error_message=str(recorder.runtime_error.get("message") or "the runtime failed"),
        )
    reason = sandbox_exit.reason if sandbox_exit else None
    code, message = _EXIT_REASON_CODES.get(
        reason or "", ("runtime_exited", "the runtime ended without an output")
    )
    details = None
    if sandbox_exit is not None:
        details = {
            "exit_code": sandbox_exit.exit_code,
            "signal": sandbox_exit.signal,
            "output_tail": sandbox_exit.output_tail[-4000:],
        }
    return Outcome(FAILED, error_code=code, error_message=message, error_details=details)


def _checked_output(output: Any, schema: dict[str, Any] | None) -> Outcome:
    if schema is None:
        return Outcome(SUCCEEDED, output=output)
    errors = [
        {
            "field": "output/" + "/".join(str(p) for p in error.instance_path),
            "message": error.message,
        }
        for error in schema_validator(schema).iter_errors(output)
    ][:20]
    if errors:
        return Outcome(
            FAILED,
            output=output,
            error_code="output_invalid",
            error_message=f"the output does not match the output schema: {errors[0]['field']}: "
            f"{errors[0]['message']}",
            error_details={"errors": errors},
        )
    return Outcome(SUCCEEDED, output=output)
