"""The runtime's launch spec: what the sandbox gets to see of Corral and of this machine."""

from __future__ import annotations

import sys
from pathlib import Path

from corral.runs.launch import (
    RUNTIME_ROOT_MOUNT,
    SIDECAR_SOCKET,
    assemble_runtime_root,
    runtime_root,
    runtime_spec,
)
from corral.runs.sandboxes.base import ResourceLimits

LIMITS = ResourceLimits(memory_bytes=256 * 2**20, cpu_seconds=20, max_processes=32)


def test_the_runtime_root_holds_only_the_runtime_package(tmp_path: Path) -> None:
    package = tmp_path / "src" / "runtime"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "loop.py").write_text("X = 1\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "stale.cpython-311.pyc").write_bytes(b"")

    root = assemble_runtime_root(tmp_path / "root", package)

    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [
        "corral/__init__.py",
        "corral/runtime/__init__.py",
        "corral/runtime/sub/loop.py",
    ]
    assert all(p.stat().st_mode & 0o004 for p in root.rglob("*"))


def test_the_spec_has_the_documented_environment_and_nothing_of_the_project(
    tmp_path: Path,
) -> None:
    spec = runtime_spec("run-1", work_dir=tmp_path, socket_dir=tmp_path, limits=LIMITS)

    assert set(spec.env) == {
        "PATH",
        "HOME",
        "LANG",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PYTHONPATH",
        "CORRAL_SIDECAR_SOCKET",
    }
    assert spec.env["HOME"] == "/work"
    assert spec.env["CORRAL_SIDECAR_SOCKET"] == SIDECAR_SOCKET == "/run/corral/sidecar.sock"
    assert spec.env["PYTHONPATH"].split(":")[0] == RUNTIME_ROOT_MOUNT
    assert spec.command[-2:] == ["-m", "corral.runtime"]
    project = Path(__file__).resolve().parents[2]
    mounted = [*spec.read_only_paths, *spec.read_only_mounts.values()]
    # The venv lives in the project, but only its site-packages is mounted, at a neutral path.
    assert [p for p in mounted if p == project or project.is_relative_to(p)] == []
    assert not any(inside.startswith(str(project)) for inside in spec.read_only_mounts)
    assert Path(sys.base_prefix) in spec.read_only_paths
    assert not any(p == Path.home() for p in mounted)


def test_the_runtime_root_is_assembled_once_per_process() -> None:
    assert runtime_root() is runtime_root()
    assert (runtime_root() / "corral" / "runtime" / "__init__.py").is_file()
