"""Real sandboxes for the proof tests, and a helper that runs Python code inside one."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from corral.runs.launch import runtime_spec
from corral.runs.sandboxes.base import (
    ResourceLimits,
    SandboxAdapter,
    SandboxExit,
    SandboxProcess,
    SandboxSpec,
)
from corral.runs.sandboxes.bubblewrap import BubblewrapAdapter

SMALL_LIMITS = ResourceLimits(memory_bytes=256 * 2**20, cpu_seconds=20, max_processes=32)
# Only a safety net against a hang: the tests assert how a sandbox ended, never how fast.
SAFETY_TIMEOUT = 120.0


@pytest.fixture
def bubblewrap() -> BubblewrapAdapter:
    """The real bubblewrap adapter; skipped where bwrap cannot run, except under CI=true."""
    adapter = BubblewrapAdapter()
    reason = adapter.available()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"bubblewrap must work in CI: {reason}")
        pytest.skip(f"bubblewrap unavailable: {reason}")
    return adapter


@dataclass(frozen=True)
class Dirs:
    work: Path
    socket: Path


@pytest.fixture
def dirs(tmp_path: Path) -> Dirs:
    work, socket = tmp_path / "work", tmp_path / "socket"
    work.mkdir()
    socket.mkdir()
    return Dirs(work, socket)


def python_spec(
    dirs: Dirs,
    code: str,
    *,
    run_id: str = "proof",
    limits: ResourceLimits = SMALL_LIMITS,
    env: Mapping[str, str] | None = None,
) -> SandboxSpec:
    """The runtime's launch spec, running `code` instead of the runtime module."""
    spec = runtime_spec(run_id, work_dir=dirs.work, socket_dir=dirs.socket, limits=limits)
    interpreter, *flags = spec.command[:3]
    return dataclasses.replace(
        spec,
        command=[interpreter, *flags, "-c", code],
        env=spec.env if env is None else env,
    )


async def finished(process: SandboxProcess) -> SandboxExit:
    return await asyncio.wait_for(process.wait(), SAFETY_TIMEOUT)


async def run_python(
    adapter: SandboxAdapter, dirs: Dirs, code: str, **options: Any
) -> tuple[SandboxExit, Any]:
    """Run `code` in a sandbox; its last output line is read as JSON."""
    ended = await finished(await adapter.start(python_spec(dirs, code, **options)))
    lines = ended.output_tail.strip().splitlines()
    assert lines, ended
    return ended, orjson.loads(lines[-1])
