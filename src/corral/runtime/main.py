"""The runtime's life: import and warm up, wait for a run, run it, report, exit.

Importing pydantic-ai takes seconds, so a warm pool starts runtimes before any run exists: every
import happens at module load and a warm-up run builds the rest, then the runtime long-polls its
sidecar for the assignment.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import httpx2
from pydantic import ValidationError
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError, UnexpectedModelBehavior, UsageLimitExceeded

from corral.runtime.agent import prepare
from corral.runtime.agent import run as run_agent
from corral.runtime.protocol import DEFAULT_SOCKET, SOCKET_ENV
from corral.runtime.sidecar_client import SidecarClient, SidecarError, http_client
from corral.runtime.tools import ReservedToolName
from corral.runtime.warm_up import warm_up

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_SIDECAR_UNREACHABLE = 2
# The executor's hard timeout should win; this one only makes the runtime say why it stopped.
_TIMEOUT_GRACE_SECONDS = 1.0
_MAX_ERROR_MESSAGE = 4000


def _model_error_message(exc: ModelHTTPError) -> str:
    body: Any = exc.body
    if isinstance(body, dict):
        detail = body.get("error", body)
        if isinstance(detail, dict) and isinstance(detail.get("message"), str):
            return f"the model call failed (HTTP {exc.status_code}): {detail['message']}"
    return f"the model call failed (HTTP {exc.status_code})"


def classify(exc: BaseException) -> tuple[str, str]:
    """The (code, message) a failure is reported as."""
    if isinstance(exc, ModelHTTPError):
        return "model_error", _model_error_message(exc)
    if isinstance(exc, TimeoutError):
        return "timeout", "the run exceeded its timeout inside the runtime"
    if isinstance(exc, UsageLimitExceeded):
        return "usage_limit", str(exc)
    if isinstance(exc, UnexpectedModelBehavior):
        return "agent_error", str(exc)
    if isinstance(exc, ValidationError):
        return "invalid_assignment", str(exc)
    if isinstance(exc, ReservedToolName):
        return "invalid_assignment", str(exc)
    return "runtime_crashed", f"{type(exc).__name__}: {exc}"


async def serve(socket_path: str) -> int:
    await _warm_up()
    async with http_client(socket_path) as http:
        sidecar = SidecarClient(http)
        try:
            assignment = await sidecar.wait_for_assignment()
        except (httpx2.HTTPError, SidecarError, ValidationError) as exc:
            code, message = classify(exc)
            return await _report_failure(sidecar, code, message)
        try:
            prepared = prepare(assignment, http)
            output = await asyncio.wait_for(
                run_agent(prepared), assignment.timeout_seconds + _TIMEOUT_GRACE_SECONDS
            )
        # The runtime's one job on any failure is to say what went wrong before exiting.
        except Exception as exc:  # noqa: BLE001
            code, message = classify(exc)
            return await _report_failure(sidecar, code, message)
        try:
            await sidecar.output(output)
        except (httpx2.HTTPError, SidecarError) as exc:
            _stderr(f"corral runtime: could not deliver the output: {exc}")
            return EXIT_SIDECAR_UNREACHABLE
        return EXIT_OK


async def _warm_up() -> None:
    # Only ever a cost saving: a failure here must not stop the runtime from taking its run.
    try:
        await warm_up()
    except Exception as exc:  # noqa: BLE001
        _stderr(f"corral runtime: warm-up failed: {type(exc).__name__}: {exc}")


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


async def _report_failure(sidecar: SidecarClient, code: str, message: str) -> int:
    message = message[:_MAX_ERROR_MESSAGE]
    _stderr(f"corral runtime: {code}: {message}")
    try:
        await sidecar.error(code, message)
    except (httpx2.HTTPError, SidecarError) as exc:
        _stderr(f"corral runtime: could not report the failure: {exc}")
        return EXIT_SIDECAR_UNREACHABLE
    return EXIT_RUN_FAILED


def main() -> int:
    # No spans, no exporters: nothing in the sandbox may try the network.
    Agent.instrument_all(False)
    return asyncio.run(serve(os.environ.get(SOCKET_ENV, DEFAULT_SOCKET)))
