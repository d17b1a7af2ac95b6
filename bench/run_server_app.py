"""The app the hosted-run benchmarks serve: `bench.server_app`'s, plus probes and a state route.

`python -m uvicorn --factory bench.run_server_app:app`. The app is built exactly as `corral
serve` builds it (embedded worker, warm pool, bubblewrap); on top of it, for the benchmark only:

- probes that note the wall-clock time (`time.time_ns()`, comparable across processes on one
  machine) at each step between `POST /api/runs` and the first model call reaching the sidecar:
  the claim, the executor taking the run, the slot acquired, the sidecar assigned, the runtime's
  poll answered, the model request arriving at the sidecar, and its answer sent back. Each
  probe wraps our own function and adds a few microseconds; nothing else changes.
- `BENCH_REFILL_DELAY_SECONDS` (an experiment, off by default): the pool starts refilling a
  taken slot that long after the run took it, instead of at once, to show what the refill's
  imports cost the run that is starting on the same cores.
- `GET /bench/state`: the warm pool's `ready_count` and size, the worker's active runs, and the
  probe times of every run so far, keyed by run id.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI

from bench.server_app import app as corral_app
from corral.run_stack import RunStack
from corral.runs import queue
from corral.runs.executor import RunExecutor
from corral.runs.models import Run
from corral.runs.sidecar import endpoints
from corral.runs.sidecar.contracts import EventSink, SidecarRun
from corral.runs.sidecar.server import Sidecar
from corral.runs.warm_pool import Slot, WarmPool

# run id -> probe name -> time.time_ns()
TIMES: dict[str, dict[str, int]] = {}


def _note(run_id: str, name: str) -> None:
    TIMES.setdefault(run_id, {}).setdefault(name, time.time_ns())


def _install_probes() -> None:
    claim = queue.claim

    @functools.wraps(claim)
    async def timed_claim(*args: Any, **kwargs: Any) -> Sequence[Run]:
        began = time.time_ns()
        claimed = await claim(*args, **kwargs)
        for run in claimed:
            TIMES.setdefault(run.id, {})["claim_began"] = began
            _note(run.id, "claimed")
        return claimed

    queue.claim = timed_claim

    execute = RunExecutor.execute

    async def timed_execute(self: RunExecutor, run: Run) -> Any:
        _note(run.id, "executing")
        return await execute(self, run)

    RunExecutor.execute = timed_execute  # type: ignore[method-assign]

    acquire = WarmPool.acquire

    async def timed_acquire(self: WarmPool, limits: Any) -> tuple[Slot, bool]:
        slot, warm = await acquire(self, limits)
        # The executor assigns the slot right after: the assign probe carries the run id.
        _LAST_ACQUIRE[id(slot.sidecar)] = (time.time_ns(), warm)
        return slot, warm

    WarmPool.acquire = timed_acquire  # type: ignore[method-assign]

    assign = Sidecar.assign

    def timed_assign(self: Sidecar, run: SidecarRun, sink: EventSink) -> None:
        acquired = _LAST_ACQUIRE.pop(id(self), None)
        if acquired is not None:
            TIMES.setdefault(run.run_id, {})["slot_acquired"] = acquired[0]
            TIMES[run.run_id]["warm"] = int(acquired[1])
        _note(run.run_id, "assigned")
        assign(self, run, sink)

    Sidecar.assign = timed_assign  # type: ignore[method-assign]

    answer = endpoints.SidecarApp._assignment
    chat = endpoints.SidecarApp._chat_completions

    async def timed_answer(self: endpoints.SidecarApp, scope: Any, send: Any) -> None:
        await answer(self, scope, send)
        current = self._slot.current
        if current is not None:
            _note(current.run.run_id, "assignment_sent")

    async def timed_chat(
        self: endpoints.SidecarApp, assigned: Any, scope: Any, receive: Any, send: Any
    ) -> None:
        _note(assigned.run.run_id, "model_request")
        await chat(self, assigned, scope, receive, send)
        # The answer is out: the `model_call` event was committed before it.
        _note(assigned.run.run_id, "model_answered")

    endpoints.SidecarApp._assignment = timed_answer  # type: ignore[method-assign]
    endpoints.SidecarApp._chat_completions = timed_chat  # type: ignore[method-assign]


_LAST_ACQUIRE: dict[int, tuple[int, bool]] = {}


def _delay_refills(seconds: float) -> None:
    refill = WarmPool._refill

    def later(self: WarmPool) -> None:
        asyncio.get_running_loop().call_later(seconds, refill, self)

    WarmPool._refill = later  # type: ignore[method-assign]


def _state_route(application: FastAPI) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def state() -> dict[str, Any]:
        stack: RunStack | None = getattr(application.state, "run_stack", None)
        if stack is None:
            return {"pool_size": None, "ready": None, "active": None, "times": TIMES}
        return {
            "pool_size": stack.pool.size,
            "ready": stack.pool.ready_count,
            "active": stack.worker.active,
            "times": TIMES,
        }

    return state


def app() -> FastAPI:
    _install_probes()
    delay = float(os.environ.get("BENCH_REFILL_DELAY_SECONDS", "0"))
    if delay > 0:
        _delay_refills(delay)
    application = corral_app()
    application.add_api_route("/bench/state", _state_route(application), methods=["GET"])
    return application
