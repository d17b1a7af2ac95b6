"""The sidecar's HTTP endpoints, as one bare ASGI app per sidecar (see docs/runtime.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

import orjson

from corral.runs.sidecar.contracts import (
    ASSIGNMENT_PATH,
    ERROR_PATH,
    LOG_PATH,
    MODEL_BASE_PATH,
    OUTPUT_PATH,
    TOOL_PATH_PREFIX,
    EventSink,
    ModelGateway,
    SidecarRun,
    ToolGateway,
)
from corral.runs.sidecar.gateway_failures import problem_for
from corral.runs.sidecar.http_io import (
    HTTPProblem,
    Message,
    Receive,
    Scope,
    Send,
    read_json_object,
    send_empty,
    send_event_stream,
    send_json,
    send_problem,
)

CHAT_COMPLETIONS_PATH = MODEL_BASE_PATH + "/chat/completions"
MODELS_PATH = MODEL_BASE_PATH + "/models"
# Tools the runtime implements itself; the tool gateway never sees them.
RUNTIME_TOOLS = frozenset({"output", "log"})
LOG_LEVELS = frozenset({"info", "warning", "error"})
MAX_LOG_MESSAGE_CHARS = 16_000
MAX_ERROR_MESSAGE_CHARS = 8_000
DEFAULT_POLL_SECONDS = 30.0
MAX_POLL_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Assigned:
    run: SidecarRun
    sink: EventSink
    assignment_json: bytes
    tool_names: frozenset[str]


class AssignmentSlot:
    """The run a sidecar serves: empty until the executor assigns one, then fixed."""

    def __init__(self) -> None:
        self._assigned: Assigned | None = None
        self._event = asyncio.Event()
        # Set by the runtime's first poll: from then on a run assigned here starts at once.
        self.polled = asyncio.Event()
        self.finished = False
        self.closing = False

    @property
    def current(self) -> Assigned | None:
        return self._assigned

    def fill(self, run: SidecarRun, sink: EventSink) -> None:
        if self._assigned is not None:
            raise RuntimeError("this sidecar already serves a run")
        self._assigned = Assigned(
            run=run,
            sink=sink,
            assignment_json=orjson.dumps(run.assignment),
            tool_names=frozenset(tool.name for tool in run.assignment.tools),
        )
        self._event.set()

    def close(self) -> None:
        """Wakes every poll: they answer that the sidecar is going away."""
        self.closing = True
        self._event.set()

    async def wait(self, seconds: float) -> Assigned | None:
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
        except TimeoutError:
            return None
        return self._assigned


def _closing() -> HTTPProblem:
    return HTTPProblem(503, "closing", "the sidecar is shutting down", "api_error")


Handler = Callable[[Assigned, Scope, Receive, Send], Awaitable[None]]


class SidecarApp:
    """ASGI app: the runtime's endpoints and the OpenAI-compatible model endpoint."""

    def __init__(
        self, slot: AssignmentSlot, model_gateway: ModelGateway, tool_gateway: ToolGateway
    ) -> None:
        self._slot = slot
        self._model_gateway = model_gateway
        self._tool_gateway = tool_gateway
        self._inflight: set[asyncio.Task[object]] = set()
        self._routes: dict[str, tuple[str, Handler]] = {
            LOG_PATH: ("POST", self._log),
            OUTPUT_PATH: ("POST", self._output),
            ERROR_PATH: ("POST", self._error),
            CHAT_COMPLETIONS_PATH: ("POST", self._chat_completions),
            MODELS_PATH: ("GET", self._models),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        task = asyncio.current_task()
        assert task is not None
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        self._inflight.add(task)
        try:
            await self._dispatch(scope, receive, tracked_send)
        except HTTPProblem as problem:
            await send_problem(send, problem)
        except asyncio.CancelledError:
            if not self._slot.closing:
                raise
            # `end_inflight` cancelled this request: answer it, rather than fail the server's task.
            task.uncancel()
            if not started:
                await send_problem(send, _closing())
        finally:
            self._inflight.discard(task)

    async def end_inflight(self, grace_seconds: float) -> None:
        """Lets requests finish for the grace, then cancels the rest; each answers `closing`."""
        if not self._inflight:
            return
        _, pending = await asyncio.wait(set(self._inflight), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == ASSIGNMENT_PATH:
            _require_method(method, "GET")
            await self._assignment(scope, send)
            return
        handler: Handler
        if path.startswith(TOOL_PATH_PREFIX):
            _require_method(method, "POST")
            handler = self._tool_call
        else:
            route = self._routes.get(path)
            if route is None:
                raise HTTPProblem(404, "not_found", f"no endpoint at {path}")
            _require_method(method, route[0])
            handler = route[1]
        assigned = self._slot.current
        if assigned is None:
            raise HTTPProblem(409, "not_assigned", "this sidecar has no run yet")
        await handler(assigned, scope, receive, send)

    async def _assignment(self, scope: Scope, send: Send) -> None:
        self._slot.polled.set()
        assigned = await self._slot.wait(_poll_seconds(scope))
        if self._slot.closing:
            raise _closing()
        if assigned is None:
            await send_empty(send, 204)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(assigned.assignment_json)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": assigned.assignment_json})

    async def _log(self, assigned: Assigned, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_json_object(scope, receive)
        level, message = body.get("level"), body.get("message")
        if level not in LOG_LEVELS or not isinstance(message, str):
            raise HTTPProblem(
                400, "invalid_log", 'a log line is {"level": info|warning|error, "message": str}'
            )
        await assigned.sink.emit(
            "log", {"level": level, "message": message[:MAX_LOG_MESSAGE_CHARS]}
        )
        await send_json(send, 200, {"status": "ok"})

    async def _output(self, assigned: Assigned, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_json_object(scope, receive)
        if "output" not in body:
            raise HTTPProblem(400, "invalid_output", 'the output is sent as {"output": ...}')
        self._finish()
        await assigned.sink.emit("output", {"output": body["output"]})
        await send_json(send, 200, {"status": "ok"})

    async def _error(self, assigned: Assigned, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_json_object(scope, receive)
        code, message = body.get("code"), body.get("message")
        if not isinstance(code, str) or not isinstance(message, str):
            raise HTTPProblem(400, "invalid_error", 'an error is {"code": str, "message": str}')
        self._finish()
        await assigned.sink.emit(
            "runtime_error", {"code": code[:100], "message": message[:MAX_ERROR_MESSAGE_CHARS]}
        )
        await send_json(send, 200, {"status": "ok"})

    def _finish(self) -> None:
        if self._slot.finished:
            raise HTTPProblem(409, "already_finished", "the run already reported its end")
        self._slot.finished = True

    async def _tool_call(
        self, assigned: Assigned, scope: Scope, receive: Receive, send: Send
    ) -> None:
        name = scope["path"][len(TOOL_PATH_PREFIX) :]
        body = await read_json_object(scope, receive)
        arguments = body.get("arguments", {})
        if not isinstance(arguments, dict):
            raise HTTPProblem(400, "invalid_arguments", "`arguments` must be a JSON object")
        if name in RUNTIME_TOOLS or name not in assigned.tool_names:
            await assigned.sink.emit(
                "log", {"level": "warning", "message": f"the agent called an unknown tool {name!r}"}
            )
            answer = {"status": "refused", "result": None, "message": f"no tool named {name!r}"}
            await send_json(send, 200, answer)
            return
        try:
            outcome = await self._tool_gateway.call(assigned.run, name, arguments, assigned.sink)
        except Exception as exc:  # noqa: BLE001 — the model reads a failure; the run goes on
            problem = problem_for(exc, what="the tool call")
            answer = {"status": "error", "result": None, "message": problem.message}
        else:
            answer = {
                "status": outcome.status,
                "result": outcome.result,
                "message": outcome.message,
            }
        await send_json(send, 200, answer)

    async def _chat_completions(
        self, assigned: Assigned, scope: Scope, receive: Receive, send: Send
    ) -> None:
        body = await read_json_object(scope, receive)
        _check_model(body, assigned.run.assignment.model)
        if body.get("stream") is True:
            chunks = self._model_gateway.stream_chat_completion(assigned.run, body, assigned.sink)
            try:
                await send_event_stream(send, receive, _problems_mapped(chunks))
            finally:
                await _close(chunks)
            return
        try:
            completion = await self._model_gateway.chat_completion(
                assigned.run, body, assigned.sink
            )
        except Exception as exc:  # noqa: BLE001 — mapped to an OpenAI error below
            raise problem_for(exc, what="the model call") from None
        await send_json(send, 200, completion)

    async def _models(
        self,
        assigned: Assigned,
        scope: Scope,  # noqa: ARG002 — every handler has the same signature
        receive: Receive,  # noqa: ARG002
        send: Send,
    ) -> None:
        try:
            models = await self._model_gateway.list_models(assigned.run)
        except Exception as exc:  # noqa: BLE001 — mapped to an OpenAI error below
            raise problem_for(exc, what="listing models") from None
        await send_json(send, 200, {"object": "list", "data": models})


def _require_method(method: str, expected: str) -> None:
    if method != expected:
        raise HTTPProblem(405, "method_not_allowed", f"use {expected}")


def _check_model(body: dict[str, object], assigned_model: str) -> None:
    # The run's model is the manifest's decision, not the sandbox's.
    model = body.setdefault("model", assigned_model)
    if model != assigned_model:
        raise HTTPProblem(
            400, "model_not_assigned", f"this run may only call the model {assigned_model!r}"
        )


def _poll_seconds(scope: Scope) -> float:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("wait")
    try:
        seconds = float(values[0]) if values else DEFAULT_POLL_SECONDS
    except ValueError:
        seconds = DEFAULT_POLL_SECONDS
    return min(max(seconds, 0.0), MAX_POLL_SECONDS)


async def _problems_mapped(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    except Exception as exc:  # noqa: BLE001 — mapped to an OpenAI error event
        raise problem_for(exc, what="the model call") from None


async def _close(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
