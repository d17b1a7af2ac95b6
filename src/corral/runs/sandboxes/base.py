"""The narrow interface every sandbox adapter implements.

A sandbox runs one command for one run: no network (the sidecar's unix socket is the only way
out), no inherited environment, a private writable work dir, a read-only view of what the
runtime needs, and limits on memory, CPU time and processes. Killing it kills every process
it started.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

# Where the sandbox sees its work dir and its sidecar's socket directory.
SANDBOX_WORK_DIR = "/work"
SANDBOX_SOCKET_DIR = "/run/corral"


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    memory_bytes: int
    cpu_seconds: int
    max_processes: int


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    run_id: str
    # argv as seen inside the sandbox.
    command: Sequence[str]
    # Host directory mounted read-write at SANDBOX_WORK_DIR (the command's cwd).
    work_dir: Path
    # Host directory holding the sidecar socket, mounted at SANDBOX_SOCKET_DIR.
    socket_dir: Path
    # Host paths the command needs to read (the Python installation), mounted read-only at the
    # same paths.
    read_only_paths: Sequence[Path]
    # The complete environment of the command: nothing is inherited.
    env: Mapping[str, str]
    limits: ResourceLimits
    # Bytes of stdout+stderr kept for diagnostics (the tail).
    output_tail_bytes: int = field(default=16_384)
    # Host paths mounted read-only at another path inside: {sandbox path: host path}. For what
    # must not appear where it lives on the host (the venv's site-packages sits under the
    # project tree, which the sandbox must not see).
    read_only_mounts: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SandboxExit:
    exit_code: int | None
    # The signal that ended the command, if one did (e.g. SIGKILL when killed or out of memory).
    signal: int | None
    # Why, when the adapter knows: "killed", "memory_limit", "cpu_limit", "process_limit".
    reason: str | None
    output_tail: str
    # What the adapter could not enforce or had to do instead (e.g. "no pids cgroup: the
    # process limit is not enforced"), for the run's log.
    notes: tuple[str, ...] = ()


class SandboxProcess(Protocol):
    @property
    def pid(self) -> int | None: ...

    async def wait(self) -> SandboxExit: ...

    async def kill(self) -> None:
        """Kill every process of the sandbox; returns once they are gone. Idempotent."""
        ...


class SandboxAdapter(Protocol):
    name: str
    # False for adapters that give no isolation (`process`): every run logs a warning.
    isolated: bool

    async def start(self, spec: SandboxSpec) -> SandboxProcess: ...

    def available(self) -> str | None:
        """None when this adapter can run here, else the reason it cannot."""
        ...
