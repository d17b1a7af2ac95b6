"""The default sandbox: bubblewrap namespaces, a per-run cgroup, rlimits.

Process tree: `sh` joins the run's cgroups and execs `prlimit`, which sets rlimits and execs
`bwrap` (the monitor, our child), which starts the namespace's init (its child), which runs
the command. Killing the namespace's init makes the kernel kill everything in the pid
namespace and refuse new forks there; the monitor reaps the init only once all of them are
gone, so our child's exit means the sandbox is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import subprocess

import orjson
import structlog

from corral.runs.sandboxes.base import SandboxExit, SandboxSpec
from corral.runs.sandboxes.bubblewrap_argv import bwrap_argv, system_mounts
from corral.runs.sandboxes.cgroups import RunCgroup, cgroups_usable, create_run_cgroup
from corral.runs.sandboxes.exits import exit_reason, split_bwrap_status
from corral.runs.sandboxes.output_tail import OutputTail, pump
from corral.runs.sandboxes.rlimits import RlimitPlan, prlimit_prefix

_log = structlog.get_logger(__name__)

# The bwrap monitor and the namespace's init count against the run's pids.max.
_OVERHEAD_PROCESSES = 2
_MONITOR_INTERVAL = 0.05
# Joins each cgroup named before `--`, then becomes the rest of the argv.
_JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


@functools.cache
def _probe(bwrap: str) -> str | None:
    argv = [bwrap, "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534"]
    argv += ["--die-with-parent", *system_mounts(), "--", "/usr/bin/true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False, env={})  # noqa: S603 (argv built here, no shell)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap does not start: {exc}"
    if done.returncode != 0:
        return f"bwrap cannot create namespaces here: {done.stderr.decode(errors='replace')}"
    return None


class BubblewrapAdapter:
    name = "bubblewrap"
    isolated = True

    def __init__(self, *, bwrap: str | None = None, use_cgroups: bool = True) -> None:
        self._bwrap = bwrap or shutil.which("bwrap")
        self._use_cgroups = use_cgroups

    def available(self) -> str | None:
        if self._bwrap is None:
            return "bwrap is not installed"
        return _probe(self._bwrap)

    def limits_enforcement(self) -> str | None:
        """None when cgroups enforce the limits, else why only rlimits will."""
        return cgroups_usable() if self._use_cgroups else "cgroups disabled"

    async def start(self, spec: SandboxSpec) -> BubblewrapProcess:
        if self._bwrap is None:
            raise RuntimeError("bwrap is not installed")
        cgroup = RunCgroup()
        if self._use_cgroups:
            cgroup = create_run_cgroup(
                spec.run_id, spec.limits, overhead_processes=_OVERHEAD_PROCESSES
            )
        plan = RlimitPlan(
            limit_address_space=not cgroup.limits_memory,
            limit_processes=not cgroup.limits_processes,
        )
        prefix, rlimit_notes = prlimit_prefix(spec.limits, plan)
        # The cgroup's own notes join these when the run ends.
        notes = list(rlimit_notes)
        if not cgroup.limits_memory:
            notes.append("the memory limit is enforced by RLIMIT_AS only (address space)")
        if not cgroup.limits_processes:
            notes.append("the process limit is enforced by RLIMIT_NPROC only (not for root)")
        if not cgroup.measures_cpu:
            notes.append("the CPU time limit is enforced per process only (RLIMIT_CPU)")
        status_read, status_write = os.pipe()
        argv = ["/bin/sh", "-c", _JOIN_CGROUPS, "corral-sandbox"]
        argv += [str(p) for p in cgroup.procs_files()]
        argv += ["--", *prefix, *bwrap_argv(self._bwrap, spec, status_fd=status_write)]
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                pass_fds=(status_write,),
                start_new_session=True,
                env={},
            )
        except BaseException:
            os.close(status_read)
            await cgroup.remove()
            raise
        finally:
            os.close(status_write)
        sandbox = BubblewrapProcess(process, spec, cgroup, notes)
        try:
            await sandbox.watch_status(status_read)
        except BaseException:
            await asyncio.shield(sandbox.kill())
            raise
        return sandbox


class BubblewrapProcess:
    def __init__(
        self,
        process: asyncio.subprocess.Process,
        spec: SandboxSpec,
        cgroup: RunCgroup,
        notes: list[str],
    ) -> None:
        self._process = process
        self._spec = spec
        self._cgroup = cgroup
        self._notes = notes
        self._tail = OutputTail(spec.output_tail_bytes)
        self._reason: str | None = None
        self._init_pidfd: int | None = None
        self._status_task: asyncio.Task[None] | None = None
        assert process.stdout is not None
        self._pump = asyncio.create_task(pump(process.stdout, self._tail))
        self._monitor = asyncio.create_task(self._watch_limits())
        self._finished = asyncio.create_task(self._finish())

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def watch_status(self, fd: int) -> None:
        """Read bwrap's status: wait for the namespace's init pid, then drain in the background."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0)
        )
        first = await reader.readline()
        self._adopt_init(first)
        self._status_task = asyncio.create_task(self._drain_status(reader, transport))

    def _adopt_init(self, line: bytes) -> None:
        try:
            child = orjson.loads(line).get("child-pid")
        except orjson.JSONDecodeError:
            return
        if not isinstance(child, int):
            return
        with contextlib.suppress(OSError):
            pidfd = os.pidfd_open(child)
            # The pidfd pins one process: make sure it is the monitor's child, not a reuse.
            if _parent_of(child) == self._process.pid:
                self._init_pidfd = pidfd
            else:
                os.close(pidfd)

    async def _drain_status(
        self, reader: asyncio.StreamReader, transport: asyncio.BaseTransport
    ) -> None:
        try:
            while await reader.readline():
                pass
        finally:
            transport.close()

    async def _watch_limits(self) -> None:
        cgroup, limits = self._cgroup, self._spec.limits
        while True:
            await asyncio.sleep(_MONITOR_INTERVAL)
            if cgroup.memory_exceeded():
                reason = "memory_limit"
            elif cgroup.processes_exceeded():
                reason = "process_limit"
            elif cgroup.measures_cpu and cgroup.cpu_seconds() > limits.cpu_seconds:
                reason = "cpu_limit"
            else:
                continue
            self._reason = self._reason or reason
            self._signal_all()
            return

    def _signal_all(self) -> None:
        if self._init_pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._init_pidfd, signal.SIGKILL)
        elif self._process.returncode is None:
            # No init known (bwrap failed early): the monitor's death takes the init along
            # (--die-with-parent) and the cgroup cleanup waits for the rest.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)

    async def _finish(self) -> SandboxExit:
        try:
            returncode = await self._process.wait()
        finally:
            self._monitor.cancel()
        await self._pump
        if self._status_task is not None:
            with contextlib.suppress(Exception):
                await self._status_task
        if self._init_pidfd is not None:
            os.close(self._init_pidfd)
            self._init_pidfd = None
        exit_code, signal_number = split_bwrap_status(returncode)
        reason = self._reason or exit_reason(
            signal_number,
            memory_exceeded=self._cgroup.memory_exceeded(),
            processes_exceeded=self._cgroup.processes_exceeded(),
            cpu_exceeded=self._cgroup.cpu_seconds() > self._spec.limits.cpu_seconds,
        )
        await self._cgroup.remove()
        if returncode == 125:
            self._notes.append("could not join the run's cgroups")
        return SandboxExit(
            exit_code=exit_code,
            signal=signal_number,
            reason=reason,
            output_tail=self._tail.text(),
            notes=(*self._notes, *self._cgroup.notes),
        )

    async def wait(self) -> SandboxExit:
        return await asyncio.shield(self._finished)

    async def kill(self) -> None:
        if not self._finished.done():
            self._reason = self._reason or "killed"
            self._signal_all()
            try:
                await asyncio.wait_for(asyncio.shield(self._finished), timeout=1.0)
            except TimeoutError:
                _log.warning("sandbox.kill_slow", run_id=self._spec.run_id)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
        await self.wait()


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # The command name may hold spaces and parentheses: fields follow the last ')'.
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
