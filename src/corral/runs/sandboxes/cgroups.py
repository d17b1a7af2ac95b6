"""A per-run cgroup (v1) that enforces memory and process limits and measures CPU time.

The group is created under this process's own group of each controller, so a host that
confines Corral also confines its runs. Whatever controller is missing or not writable is
skipped and named in `notes`: the adapter then falls back to rlimits for that limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path

from corral.runs.sandboxes.base import ResourceLimits

CGROUP_ROOT = Path("/sys/fs/cgroup")
_CONTROLLERS = ("memory", "pids", "cpuacct")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _own_groups(proc_cgroup: Path = Path("/proc/self/cgroup")) -> dict[str, str]:
    """{controller: path of this process's group} from the v1 hierarchies."""
    groups: dict[str, str] = {}
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return groups
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            if controller:
                groups[controller] = path
    return groups


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _read_keyed(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


@dataclass
class RunCgroup:
    """The groups of one run, one per controller that could be set up."""

    dirs: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def limits_memory(self) -> bool:
        return "memory" in self.dirs

    @property
    def limits_processes(self) -> bool:
        return "pids" in self.dirs

    @property
    def measures_cpu(self) -> bool:
        return "cpuacct" in self.dirs

    def procs_files(self) -> list[Path]:
        """Where a process writes its pid to join every group of the run."""
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def memory_exceeded(self) -> bool:
        directory = self.dirs.get("memory")
        if directory is None:
            return False
        return _read_keyed(directory / "memory.oom_control", "oom_kill") > 0

    def processes_exceeded(self) -> bool:
        directory = self.dirs.get("pids")
        if directory is None:
            return False
        return _read_keyed(directory / "pids.events", "max") > 0

    def cpu_seconds(self) -> float:
        directory = self.dirs.get("cpuacct")
        if directory is None:
            return 0.0
        return _read_int(directory / "cpuacct.usage") / 1e9

    def pids(self) -> set[int]:
        found: set[int] = set()
        for directory in self.dirs.values():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
        return found

    def kill_all(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def remove(self, *, patience: float = 2.0) -> None:
        """Kill what is left, then remove the groups (a group is removable once empty)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        pending = dict(self.dirs)
        while pending:
            self.kill_all()
            for controller, directory in list(pending.items()):
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    del pending[controller]
                except OSError:
                    continue
                else:
                    del pending[controller]
            if not pending or loop.time() > deadline:
                break
            await asyncio.sleep(0.005)
        for controller, directory in pending.items():
            self.notes.append(f"cgroup {controller} {directory} could not be removed")
        self.dirs = {c: d for c, d in self.dirs.items() if c in pending}


def _write(path: Path, value: int) -> None:
    path.write_text(str(value))


def _make_group(root: Path, controller: str, own: str, name: str) -> Path:
    base = root / controller / own.lstrip("/")
    directory = base / name
    directory.mkdir()
    return directory


def create_run_cgroup(
    run_id: str, limits: ResourceLimits, *, overhead_processes: int, root: Path = CGROUP_ROOT
) -> RunCgroup:
    """Create the groups of one run with its limits set; any controller may be missing."""
    own = _own_groups()
    name = f"corral-{_UNSAFE.sub('_', run_id)[:48]}-{secrets.token_hex(4)}"
    group = RunCgroup()
    for controller in _CONTROLLERS:
        if controller not in own:
            group.notes.append(f"no {controller} cgroup (v1) here")
            continue
        try:
            directory = _make_group(root, controller, own[controller], name)
        except OSError as exc:
            group.notes.append(f"cannot create a {controller} cgroup: {exc.strerror}")
            continue
        try:
            _configure(controller, directory, limits, overhead_processes)
        except OSError as exc:
            with contextlib.suppress(OSError):
                directory.rmdir()
            group.notes.append(f"cannot configure the {controller} cgroup: {exc.strerror}")
            continue
        group.dirs[controller] = directory
    return group


def _configure(
    controller: str, directory: Path, limits: ResourceLimits, overhead_processes: int
) -> None:
    if controller == "memory":
        _write(directory / "memory.limit_in_bytes", limits.memory_bytes)
        swap = directory / "memory.memsw.limit_in_bytes"
        if swap.exists():
            # Memory plus swap equal to memory: no escaping the limit into swap.
            _write(swap, limits.memory_bytes)
    elif controller == "pids":
        _write(directory / "pids.max", limits.max_processes + overhead_processes)


def cgroups_usable(root: Path = CGROUP_ROOT) -> str | None:
    """None when per-run groups can be made here, else why not."""
    own = _own_groups()
    missing = [c for c in ("memory", "pids") if c not in own]
    if missing:
        return f"no {' and '.join(missing)} cgroup (v1)"
    for controller in ("memory", "pids"):
        base = root / controller / own[controller].lstrip("/")
        if not os.access(base, os.W_OK):
            return f"{base} is not writable"
    return None
