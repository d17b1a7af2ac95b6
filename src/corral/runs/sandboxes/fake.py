"""A sandbox for executor tests: a coroutine runs "inside" instead of a process.

The test scripts what the runtime does (typically: talk to the sidecar through
`context.socket_path`), and reads back the specs the executor asked for. Not selectable
through settings: tests construct it.
"""

from __future__ import annotations

import asyncio
import signal
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from corral.runs.sandboxes.base import SandboxExit, SandboxSpec
from corral.runs.sandboxes.output_tail import OutputTail


class SandboxEnded(Exception):
    """Raised by a body to end its sandbox with exactly this exit (e.g. a memory limit)."""

    def __init__(self, exit: SandboxExit) -> None:
        super().__init__(exit.reason or "ended")
        self.exit = exit


@dataclass
class FakeSandboxContext:
    spec: SandboxSpec
    tail: OutputTail

    @property
    def socket_path(self) -> Path:
        """The host path of the sidecar socket the runtime would use."""
        return self.spec.socket_dir / "sidecar.sock"

    def write(self, text: str) -> None:
        """What the runtime prints to stdout/stderr."""
        self.tail.feed(text.encode())


# Returns the exit code; raising `SandboxEnded` ends it otherwise, any other exception is a
# crash (exit code 1, the traceback in the output tail).
SandboxBody = Callable[[FakeSandboxContext], Awaitable[int]]


async def _exit_zero(_context: FakeSandboxContext) -> int:
    return 0


@dataclass
class FakeSandboxAdapter:
    body: SandboxBody = _exit_zero
    isolated: bool = True
    unavailable_reason: str | None = None
    specs: list[SandboxSpec] = field(default_factory=list)
    processes: list[FakeSandboxProcess] = field(default_factory=list)
    name: str = "fake"

    def available(self) -> str | None:
        return self.unavailable_reason

    async def start(self, spec: SandboxSpec) -> FakeSandboxProcess:
        self.specs.append(spec)
        process = FakeSandboxProcess(self.body, spec)
        self.processes.append(process)
        return process


class FakeSandboxProcess:
    def __init__(self, body: SandboxBody, spec: SandboxSpec) -> None:
        self.spec = spec
        self.killed = False
        self._tail = OutputTail(spec.output_tail_bytes)
        self._task = asyncio.create_task(self._run(body, FakeSandboxContext(spec, self._tail)))

    @property
    def pid(self) -> int | None:
        return None

    @property
    def running(self) -> bool:
        return not self._task.done()

    async def _run(self, body: SandboxBody, context: FakeSandboxContext) -> SandboxExit:
        try:
            code = await body(context)
        except SandboxEnded as ended:
            return ended.exit
        except asyncio.CancelledError:
            return SandboxExit(None, signal.SIGKILL, "killed", self._tail.text())
        except Exception:  # noqa: BLE001 (a crash of the runtime is an exit, as in a process)
            self._tail.feed(traceback.format_exc().encode())
            code = 1
        return SandboxExit(code, None, None, self._tail.text())

    async def wait(self) -> SandboxExit:
        return await asyncio.shield(self._task)

    async def kill(self) -> None:
        if not self._task.done():
            self.killed = True
            self._task.cancel()
        await self.wait()
