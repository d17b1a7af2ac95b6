"""No isolation: the command runs as a plain child process. Development only.

Sandbox paths in the spec (the work dir, the socket dir, read-only mounts) are translated to
their host paths in the command and environment, so the same spec runs here. Only the CPU
time rlimit is set: RLIMIT_AS breaks threaded programs well below their real memory use and
RLIMIT_NPROC counts every process of the user, not of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from corral.runs.sandboxes.base import (
    SANDBOX_SOCKET_DIR,
    SANDBOX_WORK_DIR,
    SandboxExit,
    SandboxSpec,
)
from corral.runs.sandboxes.output_tail import OutputTail, pump
from corral.runs.sandboxes.rlimits import RlimitPlan, prlimit_prefix

_NOT_ENFORCED = "no isolation (process adapter): memory and process limits are not enforced"


def host_mounts(spec: SandboxSpec) -> dict[str, Path]:
    return {
        SANDBOX_WORK_DIR: spec.work_dir,
        SANDBOX_SOCKET_DIR: spec.socket_dir,
        **dict(spec.read_only_mounts),
    }


def to_host_path(value: str, mounts: dict[str, Path], same: tuple[Path, ...] = ()) -> str:
    """`value` with each ':'-separated sandbox path replaced by the host path it is mounted from.

    Paths under `same` (mounted at their own path) stay as they are.
    """
    parts = []
    for part in value.split(":"):
        if any(Path(part).is_relative_to(path) for path in same):
            parts.append(part)
            continue
        for inside, host in mounts.items():
            if part == inside or part.startswith(inside + "/"):
                part = str(host) + part[len(inside) :]
                break
        parts.append(part)
    return ":".join(parts)


class ProcessAdapter:
    name = "process"
    isolated = False

    def available(self) -> str | None:
        return None

    async def start(self, spec: SandboxSpec) -> ProcessSandbox:
        mounts = host_mounts(spec)
        same = tuple(spec.read_only_paths)
        prefix, notes = prlimit_prefix(
            spec.limits, RlimitPlan(limit_address_space=False, limit_processes=False)
        )
        process = await asyncio.create_subprocess_exec(
            *prefix,
            *(to_host_path(arg, mounts, same) for arg in spec.command),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=spec.work_dir,
            env={key: to_host_path(value, mounts, same) for key, value in spec.env.items()},
            start_new_session=True,
        )
        return ProcessSandbox(process, spec, [_NOT_ENFORCED, *notes])


class ProcessSandbox:
    def __init__(
        self, process: asyncio.subprocess.Process, spec: SandboxSpec, notes: list[str]
    ) -> None:
        self._process = process
        self._notes = notes
        self._killed = False
        self._tail = OutputTail(spec.output_tail_bytes)
        assert process.stdout is not None
        self._pump = asyncio.create_task(pump(process.stdout, self._tail))
        self._finished = asyncio.create_task(self._finish())

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)

    async def _group_gone(self, patience: float = 2.0) -> None:
        """Wait until SIGKILL has taken every process of the group (delivery is not instant)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while loop.time() < deadline:
            if not _live_members(self._process.pid):
                return
            await asyncio.sleep(0.005)

    async def _finish(self) -> SandboxExit:
        returncode = await self._process.wait()
        # Whatever the command left running in its process group ends with it.
        self._kill_group()
        await self._group_gone()
        await self._pump
        signal_number = -returncode if returncode < 0 else None
        if self._killed:
            reason: str | None = "killed"
        elif signal_number == signal.SIGXCPU:
            reason = "cpu_limit"
        else:
            reason = None
        return SandboxExit(
            exit_code=returncode if returncode >= 0 else None,
            signal=signal_number,
            reason=reason,
            output_tail=self._tail.text(),
            notes=tuple(self._notes),
        )

    async def wait(self) -> SandboxExit:
        return await asyncio.shield(self._finished)

    async def kill(self) -> None:
        if not self._finished.done():
            self._killed = True
            self._kill_group()
        await self.wait()


def _live_members(pgid: int) -> bool:
    """Whether a process of the group still runs (a zombie waiting for its reaper does not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Fields after the command name: state, ppid, pgrp.
            state, _, pgrp = stat.read_bytes().rsplit(b")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(pgrp) == pgid and state != b"Z":
            return True
    return False
