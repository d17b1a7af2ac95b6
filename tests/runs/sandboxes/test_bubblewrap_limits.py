"""Proofs that a bubblewrap sandbox contains runaway processes, and that kill() leaves none."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from corral.runs.sandboxes.base import ResourceLimits
from corral.runs.sandboxes.bubblewrap import BubblewrapAdapter
from corral.runs.sandboxes.cgroups import cgroups_usable
from tests.runs.sandboxes.conftest import SAFETY_TIMEOUT, Dirs, finished, python_spec

FORK_BOMB = """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""

MEMORY_HOG = """
chunks = []
while True:
    chunks.append(bytearray(8 * 2**20))
"""

CPU_BURNER = """
while True:
    pass
"""


@pytest.fixture
def cgroups() -> None:
    reason = cgroups_usable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the sandbox limits must be proven in CI: {reason}")
        pytest.skip(f"limits by reason need cgroups: {reason}")


@pytest.mark.usefixtures("cgroups")
async def test_a_fork_bomb_ends_the_run_at_the_process_limit(
    bubblewrap: BubblewrapAdapter, dirs: Dirs
) -> None:
    limits = ResourceLimits(memory_bytes=256 * 2**20, cpu_seconds=60, max_processes=16)
    process = await bubblewrap.start(python_spec(dirs, FORK_BOMB, limits=limits))

    ended = await finished(process)

    assert ended.reason == "process_limit"
    assert ended.signal == signal.SIGKILL
    assert ended.exit_code is None


@pytest.mark.usefixtures("cgroups")
async def test_a_memory_hog_ends_the_run_at_the_memory_limit(
    bubblewrap: BubblewrapAdapter, dirs: Dirs
) -> None:
    limits = ResourceLimits(memory_bytes=64 * 2**20, cpu_seconds=60, max_processes=16)
    process = await bubblewrap.start(python_spec(dirs, MEMORY_HOG, limits=limits))

    ended = await finished(process)

    assert ended.reason == "memory_limit"
    assert ended.signal == signal.SIGKILL


async def test_a_cpu_burner_ends_the_run_at_the_cpu_limit(
    bubblewrap: BubblewrapAdapter, dirs: Dirs
) -> None:
    limits = ResourceLimits(memory_bytes=64 * 2**20, cpu_seconds=1, max_processes=16)
    process = await bubblewrap.start(python_spec(dirs, CPU_BURNER, limits=limits))

    ended = await finished(process)

    assert ended.reason == "cpu_limit"
    assert ended.exit_code is None


SPAWN_AND_SLEEP = """
import os, subprocess, sys
children = [subprocess.Popen(["sleep", "1000"]) for _ in range(3)]
grandchild = subprocess.Popen(["sh", "-c", "sleep 1000 & sleep 1000 &"])
grandchild.wait()
import socket
socket.socket(socket.AF_UNIX).connect("/run/corral/ready.sock")
for child in children:
    child.wait()
"""


def _descendants(root: int) -> dict[int, bytes]:
    """{pid: its start time} of every process below `root`, from /proc."""
    parents: dict[int, int] = {}
    started: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        started[int(entry.name)] = fields[19]
    found: dict[int, bytes] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = started[pid]
                frontier.append(pid)
    return found


def _alive(pid: int, start_time: bytes) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    except OSError:
        return False
    # The same pid with another start time is a new process that reused the number.
    return fields[19] == start_time


async def test_kill_ends_the_sandbox_and_every_process_it_forked(
    bubblewrap: BubblewrapAdapter, dirs: Dirs
) -> None:
    ready = asyncio.Event()

    async def on_connect(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ready.set()
        writer.close()
        await writer.wait_closed()

    # The sandbox reaches the host only through its socket dir, as the runtime its sidecar.
    server = await asyncio.start_unix_server(on_connect, path=str(dirs.socket / "ready.sock"))
    process = await bubblewrap.start(python_spec(dirs, SPAWN_AND_SLEEP, run_id="kill-proof"))
    await asyncio.wait_for(ready.wait(), SAFETY_TIMEOUT)
    server.close()
    await server.wait_closed()
    assert process.pid is not None
    inside = _descendants(process.pid)
    # The namespace's init, the interpreter, three sleepers, and the two the shell left behind.
    assert len(inside) >= 7, inside

    await process.kill()

    assert [pid for pid, start in inside.items() if _alive(pid, start)] == []
    assert not _alive(process.pid, b"")
    ended = await process.wait()
    assert ended.reason == "killed"
    assert ended.signal == signal.SIGKILL
    await process.kill()  # idempotent
    assert (await process.wait()) == ended


def _cgroups_named(run_id: str) -> list[Path]:
    return [g for g in Path("/sys/fs/cgroup").glob(f"*/**/corral-{run_id}-*") if g.is_dir()]


async def test_the_run_cgroups_are_removed_afterwards(
    bubblewrap: BubblewrapAdapter, dirs: Dirs
) -> None:
    run_id = "cgroup-cleanup-proof"
    process = await bubblewrap.start(python_spec(dirs, "print(1)", run_id=run_id))

    ended = await finished(process)

    assert ended.exit_code == 0
    assert _cgroups_named(run_id) == []


async def test_without_cgroups_rlimits_still_bound_cpu_time_and_say_so(
    dirs: Dirs, bubblewrap: BubblewrapAdapter
) -> None:
    adapter = BubblewrapAdapter(use_cgroups=False)
    limits = ResourceLimits(memory_bytes=256 * 2**20, cpu_seconds=1, max_processes=16)
    process = await adapter.start(python_spec(dirs, CPU_BURNER, limits=limits))

    ended = await finished(process)

    assert ended.reason == "cpu_limit"
    assert ended.signal == signal.SIGXCPU
    assert any("RLIMIT_NPROC" in note for note in ended.notes)
