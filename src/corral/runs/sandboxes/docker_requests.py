"""What the Docker adapter says to the Engine API (v1.43), and how it reads the log stream."""

from __future__ import annotations

import re
import struct
from typing import Any

from corral.runs.sandboxes.base import SANDBOX_SOCKET_DIR, SANDBOX_WORK_DIR, SandboxSpec

API_VERSION = "v1.43"
DEFAULT_IMAGE = "python:3.11-slim-bookworm"
# `nobody`, by number: the image need not have a passwd entry for it.
CONTAINER_USER = "65534:65534"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def container_name(run_id: str) -> str:
    return f"corral-run-{_UNSAFE.sub('_', run_id)}"


def create_container_body(spec: SandboxSpec, *, image: str, nano_cpus: int) -> dict[str, Any]:
    """The `POST /containers/create` body of a run's container."""
    limits = spec.limits
    binds = [f"{path}:{path}:ro" for path in spec.read_only_paths]
    binds += [f"{host}:{inside}:ro" for inside, host in spec.read_only_mounts.items()]
    binds += [
        f"{spec.work_dir}:{SANDBOX_WORK_DIR}:rw",
        f"{spec.socket_dir}:{SANDBOX_SOCKET_DIR}:ro",
    ]
    return {
        "Image": image,
        "Cmd": list(spec.command),
        # The image's entrypoint and environment would otherwise run first / leak in.
        "Entrypoint": [],
        "Env": [f"{key}={value}" for key, value in spec.env.items()],
        "WorkingDir": SANDBOX_WORK_DIR,
        "User": CONTAINER_USER,
        "NetworkDisabled": True,
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
        "Tty": False,
        "Labels": {"corral.run_id": spec.run_id},
        "HostConfig": {
            "NetworkMode": "none",
            "CapDrop": ["ALL"],
            "ReadonlyRootfs": True,
            "SecurityOpt": ["no-new-privileges"],
            "Memory": limits.memory_bytes,
            # Equal to Memory: no swap beyond the memory limit.
            "MemorySwap": limits.memory_bytes,
            "NanoCpus": nano_cpus,
            "PidsLimit": limits.max_processes,
            "Ulimits": [
                {"Name": "cpu", "Soft": limits.cpu_seconds, "Hard": limits.cpu_seconds + 1}
            ],
            "Tmpfs": {"/tmp": "rw,nosuid,nodev,size=67108864"},  # noqa: S108 (in the container)
            "Binds": binds,
            # A minimal init reaps and forwards signals, so killing the container kills all.
            "Init": True,
            "AutoRemove": True,
            "IpcMode": "private",
            "Privileged": False,
        },
    }


_HEADER = struct.Struct(">BxxxI")


class LogDemuxer:
    """Splits Docker's multiplexed stdout/stderr stream (non-TTY) into payload bytes.

    Each frame is an 8-byte header (stream type, 3 zero bytes, big-endian length) and its
    payload; frames arrive split across chunks arbitrarily.
    """

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, chunk: bytes) -> bytes:
        self._pending += chunk
        out = bytearray()
        while len(self._pending) >= _HEADER.size:
            _, size = _HEADER.unpack_from(self._pending)
            end = _HEADER.size + size
            if len(self._pending) < end:
                break
            out += self._pending[_HEADER.size : end]
            del self._pending[:end]
        return bytes(out)


def frame(stream: int, payload: bytes) -> bytes:
    """One frame of the multiplexed stream (1 stdout, 2 stderr), as the daemon writes it."""
    return _HEADER.pack(stream, len(payload)) + payload
