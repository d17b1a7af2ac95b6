"""Started sandboxes with their sidecar, ready for the next run.

The runtime's agent library takes seconds to import, so a run that starts its sandbox on demand
waits for that. A slot is a sandbox whose runtime has already imported everything and waits on
its own sidecar for an assignment. Slots are single-use: a run's sandbox is never reused for
another run, so nothing one run leaves behind reaches the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from corral.runs.sandboxes.base import (
    ResourceLimits,
    SandboxAdapter,
    SandboxExit,
    SandboxProcess,
    SandboxSpec,
)
from corral.runs.sidecar.contracts import EventSink, SidecarRun

_log = structlog.get_logger(__name__)

# How long a warm slot's runtime may take to import everything and poll its sidecar.
WARM_UP_SECONDS = 120.0


class SidecarHandle(Protocol):
    async def start(self) -> None: ...

    async def wait_runtime_ready(self) -> None:
        """Returns once the runtime, its imports done, polls for its assignment."""
        ...

    def assign(self, run: SidecarRun, sink: EventSink) -> None: ...

    async def close(self) -> None: ...


# Builds a sidecar serving on `<socket_dir>/sidecar.sock`.
SidecarFactory = Callable[[Path], SidecarHandle]
# Builds the sandbox spec that starts the runtime for a slot.
LaunchSpec = Callable[[str, Path, Path, ResourceLimits], SandboxSpec]


@dataclass(slots=True)
class Slot:
    slot_id: str
    root: Path
    sidecar: SidecarHandle
    process: SandboxProcess
    limits: ResourceLimits
    exited: asyncio.Task[SandboxExit] = field(init=False)

    def __post_init__(self) -> None:
        self.exited = asyncio.ensure_future(self.process.wait())

    async def discard(self) -> None:
        """Kill the sandbox, stop the sidecar, remove the slot's files."""
        await self.process.kill()
        with contextlib.suppress(Exception):
            await self.exited
        await self.sidecar.close()
        await asyncio.to_thread(shutil.rmtree, self.root, True)


def _prepare_dirs(root: Path, work_dir: Path, socket_dir: Path) -> None:
    work_dir.mkdir()
    socket_dir.mkdir()
    # The sandbox runs as an unprivileged user: it must reach its socket and write its work dir.
    root.chmod(0o711)
    work_dir.chmod(0o777)
    socket_dir.chmod(0o711)


class WarmPool:
    def __init__(
        self,
        adapter: SandboxAdapter,
        sidecars: SidecarFactory,
        launch: LaunchSpec,
        *,
        size: int,
        default_limits: ResourceLimits,
        base_dir: Path | None = None,
    ) -> None:
        self._adapter = adapter
        self._sidecars = sidecars
        self._launch = launch
        self._size = size
        self._default_limits = default_limits
        self._base_dir = base_dir
        self._ready: list[Slot] = []
        self._filling: set[asyncio.Task[None]] = set()
        self._counter = 0
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    @property
    def ready_count(self) -> int:
        return len(self._ready)

    async def start(self) -> None:
        for _ in range(self._size):
            self._refill()

    def _refill(self) -> None:
        if self._closed or len(self._ready) + len(self._filling) >= self._size:
            return
        task = asyncio.ensure_future(self._add_ready())
        self._filling.add(task)
        task.add_done_callback(self._filling.discard)

    async def _add_ready(self) -> None:
        try:
            slot = await self._new_slot(self._default_limits)
        except Exception:  # noqa: BLE001 — a failed warm slot is logged; runs start cold
            _log.exception("warm_pool.slot_failed")
            return
        ready = asyncio.ensure_future(slot.sidecar.wait_runtime_ready())
        done, _ = await asyncio.wait(
            {ready, slot.exited}, timeout=WARM_UP_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
        ready.cancel()
        if self._closed or ready not in done:
            if not self._closed:
                _log.error("warm_pool.runtime_not_ready", slot=slot.slot_id)
            await slot.discard()
            return
        self._ready.append(slot)

    async def _new_slot(self, limits: ResourceLimits) -> Slot:
        self._counter += 1
        slot_id = f"slot{self._counter}"
        root = Path(
            await asyncio.to_thread(tempfile.mkdtemp, prefix="corral-run-", dir=self._base_dir)
        )
        work_dir = root / "work"
        socket_dir = root / "sock"
        await asyncio.to_thread(_prepare_dirs, root, work_dir, socket_dir)
        sidecar = self._sidecars(socket_dir)
        await sidecar.start()
        try:
            spec = self._launch(slot_id, work_dir, socket_dir, limits)
            process = await self._adapter.start(spec)
        except BaseException:
            await sidecar.close()
            await asyncio.to_thread(shutil.rmtree, root, True)
            raise
        return Slot(slot_id, root, sidecar, process, limits)

    async def acquire(self, limits: ResourceLimits) -> tuple[Slot, bool]:
        """A slot for a run with these limits, and whether it was warm."""
        for slot in list(self._ready):
            if slot.exited.done():
                # Died while waiting: never hand it out.
                self._ready.remove(slot)
                await slot.discard()
            elif slot.limits == limits:
                self._ready.remove(slot)
                self._refill()
                return slot, True
        self._refill()
        return await self._new_slot(limits), False

    async def stop(self) -> None:
        self._closed = True
        for task in list(self._filling):
            task.cancel()
        for task in list(self._filling):
            with contextlib.suppress(BaseException):
                await task
        slots, self._ready = self._ready, []
        for slot in slots:
            await slot.discard()
