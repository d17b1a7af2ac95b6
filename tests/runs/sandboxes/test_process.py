"""The process adapter: no isolation, but an exact environment, host paths and a group kill."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson
import pytest

from corral.runs.sandboxes.base import ResourceLimits, SandboxSpec
from corral.runs.sandboxes.process import ProcessAdapter, to_host_path
from tests.runs.sandboxes.conftest import SAFETY_TIMEOUT, Dirs, finished, python_spec

# Resolved: the venv's own path lies under /work here, which means the work dir to the adapter.
PYTHON = os.path.realpath(sys.executable)
LIMITS = ResourceLimits(memory_bytes=256 * 2**20, cpu_seconds=20, max_processes=32)


def test_sandbox_paths_become_host_paths() -> None:
    mounts = {"/work": Path("/srv/run-1"), "/opt/corral/runtime": Path("/tmp/rt")}

    assert to_host_path("/work", mounts) == "/srv/run-1"
    assert to_host_path("/work/out.json", mounts) == "/srv/run-1/out.json"
    assert to_host_path("/workspace", mounts) == "/workspace"
    assert to_host_path("/opt/corral/runtime:/usr/lib", mounts) == "/tmp/rt:/usr/lib"
    assert to_host_path("plain", mounts) == "plain"
    assert to_host_path("/work/py/bin/python", mounts, (Path("/work/py"),)) == "/work/py/bin/python"


async def test_runs_the_launch_spec_with_exactly_its_environment_in_the_work_dir(
    dirs: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORRAL_PROOF_FAKE_SECRET", "parent-secret-value")
    code = (
        "import corral, json, os\n"
        "print(json.dumps([dict(os.environ), os.getcwd(), corral.__file__]))"
    )
    spec = python_spec(dirs, code)

    adapter = ProcessAdapter()
    ended = await finished(await adapter.start(spec))

    environ, cwd, corral_file = orjson.loads(ended.output_tail.strip().splitlines()[-1])
    assert ended.exit_code == 0
    assert set(environ) == set(spec.env)
    assert environ["HOME"] == str(dirs.work)
    assert cwd == str(dirs.work)
    assert corral_file.endswith("corral/__init__.py")
    assert "src/corral" not in corral_file
    assert adapter.isolated is False
    assert any("no isolation" in note for note in ended.notes)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and b"Z" not in _state(pid)


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return b"Z"


async def test_kill_ends_the_process_group(dirs: Dirs) -> None:
    ready = dirs.socket / "ready.sock"
    connected = asyncio.Event()

    async def on_connect(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        writer.close()
        await writer.wait_closed()

    script = (
        "import socket, subprocess, sys\n"
        "child = subprocess.Popen(['sleep', '1000'])\n"
        "print(child.pid, flush=True)\n"
        f"socket.socket(socket.AF_UNIX).connect({str(ready)!r})\n"
        "child.wait()\n"
    )
    spec = SandboxSpec(
        run_id="process-kill",
        command=[PYTHON, "-c", script],
        work_dir=dirs.work,
        socket_dir=dirs.socket,
        read_only_paths=[],
        env={"PATH": "/usr/bin:/bin"},
        limits=LIMITS,
    )
    server = await asyncio.start_unix_server(on_connect, path=str(ready))
    process = await ProcessAdapter().start(spec)
    await asyncio.wait_for(connected.wait(), SAFETY_TIMEOUT)
    server.close()
    await server.wait_closed()

    await process.kill()

    ended = await process.wait()
    assert ended.reason == "killed"
    assert ended.signal == signal.SIGKILL
    sleeper = int(ended.output_tail.split()[0])
    assert not _alive(sleeper)
