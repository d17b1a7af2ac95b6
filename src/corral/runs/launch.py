"""The sandbox spec that starts Corral's in-sandbox runtime (`python -m corral.runtime`).

The sandbox must not see the source tree (nor `data/` with the database beside it) nor the
home directory. So the runtime's package is copied, once per process, into a "runtime root"
holding only `corral/__init__.py` and `corral/runtime/`, and the sandbox gets: the Python
installation (read-only, at its own path: the interpreter finds its stdlib from there), the
venv's site-packages and the runtime root (read-only, at neutral paths on PYTHONPATH). The
editable install's `.pth` files are not processed on PYTHONPATH, so `corral` resolves to the
runtime root alone.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import shutil
import site
import sys
import tempfile
from pathlib import Path

from corral.runs.sandboxes.base import (
    SANDBOX_SOCKET_DIR,
    SANDBOX_WORK_DIR,
    ResourceLimits,
    SandboxSpec,
)

RUNTIME_ROOT_MOUNT = "/opt/corral/runtime"
SITE_PACKAGES_MOUNT = "/opt/corral/site-packages"
SIDECAR_SOCKET_NAME = "sidecar.sock"
SIDECAR_SOCKET = f"{SANDBOX_SOCKET_DIR}/{SIDECAR_SOCKET_NAME}"
RUNTIME_MODULE = "corral.runtime"


def _runtime_package_dir() -> Path:
    found = importlib.util.find_spec(RUNTIME_MODULE)
    if found is None or not found.submodule_search_locations:
        raise RuntimeError(f"{RUNTIME_MODULE} is not importable")
    return Path(next(iter(found.submodule_search_locations)))


def assemble_runtime_root(destination: Path, runtime_package: Path | None = None) -> Path:
    """Write `corral/__init__.py` and a copy of the runtime package under `destination`."""
    source = runtime_package or _runtime_package_dir()
    package = destination / "corral"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(
        '"""Corral, as the sandbox sees it: the runtime only."""\n'
    )
    shutil.copytree(
        source,
        package / "runtime",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )
    # Readable by any uid: a container runs as `nobody`, not as this process's user.
    for path in [destination, *destination.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return destination


@functools.cache
def runtime_root() -> Path:
    """This process's runtime root, assembled on first use and removed at exit."""
    directory = Path(tempfile.mkdtemp(prefix="corral-runtime-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return assemble_runtime_root(directory)


def interpreter() -> Path:
    """The base interpreter (not the venv's): its stdlib is found from its own path."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return Path(sys.base_prefix) / "bin" / version


def venv_site_packages() -> list[Path]:
    """The site-packages dirs outside the base installation (the venv's), that exist."""
    base = Path(sys.base_prefix).resolve()
    found: list[Path] = []
    for entry in site.getsitepackages():
        path = Path(entry).resolve()
        if path.is_dir() and not path.is_relative_to(base) and path not in found:
            found.append(path)
    return found


def runtime_spec(
    run_id: str,
    *,
    work_dir: Path,
    socket_dir: Path,
    limits: ResourceLimits,
    root: Path | None = None,
    output_tail_bytes: int = 16_384,
) -> SandboxSpec:
    mounts = {RUNTIME_ROOT_MOUNT: root or runtime_root()}
    for index, path in enumerate(venv_site_packages()):
        mounts[f"{SITE_PACKAGES_MOUNT}-{index}" if index else SITE_PACKAGES_MOUNT] = path
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": SANDBOX_WORK_DIR,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": ":".join(mounts),
        "CORRAL_SIDECAR_SOCKET": SIDECAR_SOCKET,
    }
    return SandboxSpec(
        run_id=run_id,
        # -P: the work dir (cwd) is not put on sys.path, so the agent cannot shadow a module;
        # -S: no `site`: neither the base installation's site-packages (and its .pth hooks) nor a
        # user site under HOME (the writable work dir); PYTHONPATH names all there is.
        command=[str(interpreter()), "-P", "-S", "-m", RUNTIME_MODULE],
        work_dir=work_dir,
        socket_dir=socket_dir,
        read_only_paths=[Path(sys.base_prefix)],
        env=env,
        limits=limits,
        output_tail_bytes=output_tail_bytes,
        read_only_mounts=mounts,
    )
