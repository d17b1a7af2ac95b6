"""The `bwrap` command line of a sandbox: what it sees, as which user, with what environment."""

from __future__ import annotations

import os
from pathlib import Path

from corral.runs.sandboxes.base import SANDBOX_SOCKET_DIR, SANDBOX_WORK_DIR, SandboxSpec

# `nobody`: inside the user namespace the command is an unprivileged user with no capabilities.
SANDBOX_UID = 65534
SANDBOX_GID = 65534

# The system the command may read. On merged-/usr systems the others are symlinks into /usr.
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def system_mounts() -> list[str]:
    argv: list[str] = []
    for directory in _SYSTEM_DIRS:
        path = Path(directory)
        if path.is_symlink():
            argv += ["--symlink", os.readlink(path), directory]
        elif path.is_dir():
            argv += ["--ro-bind", directory, directory]
    return argv


def bwrap_argv(bwrap: str, spec: SandboxSpec, *, status_fd: int) -> list[str]:
    argv = [
        bwrap,
        # Every namespace, network included: the only interface inside is an unconnected `lo`.
        "--unshare-all",
        "--unshare-user",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_GID),
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        # No controlling terminal: the command cannot push input into ours (TIOCSTI).
        "--new-session",
        "--clearenv",
        *system_mounts(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",  # noqa: S108 (a private tmpfs inside the sandbox)
    ]
    for path in spec.read_only_paths:
        argv += ["--ro-bind", str(path), str(path)]
    for inside, host in spec.read_only_mounts.items():
        argv += ["--ro-bind", str(host), inside]
    argv += [
        "--bind",
        str(spec.work_dir),
        SANDBOX_WORK_DIR,
        # Read-only still lets the command connect to the sidecar's socket, but not add files.
        "--ro-bind",
        str(spec.socket_dir),
        SANDBOX_SOCKET_DIR,
        # Everything but /work and /tmp is read-only, the root's own tmpfs included.
        "--remount-ro",
        "/",
        "--chdir",
        SANDBOX_WORK_DIR,
    ]
    for key, value in spec.env.items():
        argv += ["--setenv", key, value]
    argv += ["--json-status-fd", str(status_fd), "--"]
    if "PWD" not in spec.env:
        # bwrap exports PWD after --chdir; the environment must be exactly spec.env.
        argv += ["/usr/bin/env", "-u", "PWD", "--"]
    return [*argv, *spec.command]
