"""Per-process resource limits, applied by `prlimit` before the sandboxed command starts.

Rlimits bind each process separately (a forked child gets a fresh CPU-time budget) and
RLIMIT_NPROC does not bind root, so they complement the per-run cgroup rather than replace it.
`prlimit` (util-linux) sets them in the child itself: no code runs between fork and exec here.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from corral.runs.sandboxes.base import ResourceLimits


@dataclass(frozen=True, slots=True)
class RlimitPlan:
    # RLIMIT_AS caps address space, not memory in use: a Python process with threads maps far
    # more than it uses. Only set it when nothing better (a memory cgroup) limits memory.
    limit_address_space: bool
    limit_processes: bool


def prlimit_prefix(limits: ResourceLimits, plan: RlimitPlan) -> tuple[list[str], list[str]]:
    """The argv prefix that applies the limits, and notes on what could not be applied."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return [], ["prlimit not found: no rlimits are set"]
    # SIGXCPU at the soft limit, SIGKILL one second later for a process that ignores it.
    argv = [prlimit, f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}"]
    if plan.limit_address_space:
        argv.append(f"--as={limits.memory_bytes}")
    if plan.limit_processes:
        argv.append(f"--nproc={limits.max_processes}")
    argv.append("--")
    return argv, []
