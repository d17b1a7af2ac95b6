"""Which sandbox adapter runs this server's runs (`CORRAL_RUN_ADAPTER`)."""

from __future__ import annotations

import structlog

from corral.runs.sandboxes.base import SandboxAdapter
from corral.runs.sandboxes.bubblewrap import BubblewrapAdapter
from corral.runs.sandboxes.docker import DockerAdapter
from corral.runs.sandboxes.docker_requests import DEFAULT_IMAGE
from corral.runs.sandboxes.process import ProcessAdapter

_log = structlog.get_logger(__name__)

# The fake is deliberately absent: tests construct it, settings cannot select it.
ADAPTER_NAMES = ("bubblewrap", "process", "docker")


def select_adapter(name: str | None, *, docker_image: str = DEFAULT_IMAGE) -> SandboxAdapter:
    """The named adapter, or by default bubblewrap where it works and else `process`.

    A named adapter is returned even when it cannot run here: starting a run then fails with
    its `available()` reason, rather than silently running with less isolation.
    """
    if name == "bubblewrap":
        return BubblewrapAdapter()
    if name == "process":
        return ProcessAdapter()
    if name == "docker":
        return DockerAdapter(image=docker_image)
    if name is not None:
        raise ValueError(
            f"unknown run adapter {name!r}: expected one of {', '.join(ADAPTER_NAMES)}"
        )
    bubblewrap = BubblewrapAdapter()
    why_not = bubblewrap.available()
    if why_not is None:
        return bubblewrap
    _log.warning(
        "sandbox.no_isolation",
        reason=why_not,
        detail="bubblewrap is unavailable: hosted runs are NOT isolated (process adapter); "
        "install bubblewrap or set CORRAL_RUN_ADAPTER",
    )
    return ProcessAdapter()
