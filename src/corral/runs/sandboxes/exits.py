"""Turning how a sandbox ended into a `SandboxExit` exit code, signal and reason."""

from __future__ import annotations

import signal

# bwrap exits with the command's exit code, or 128 + the signal that killed it.
_SIGNAL_BASE = 128


def split_bwrap_status(returncode: int) -> tuple[int | None, int | None]:
    """(exit code, signal) from the returncode of the bwrap monitor."""
    if returncode < 0:
        return None, -returncode
    if _SIGNAL_BASE < returncode <= _SIGNAL_BASE + signal.SIGRTMAX:
        return None, returncode - _SIGNAL_BASE
    return returncode, None


def exit_reason(
    signal_number: int | None,
    *,
    memory_exceeded: bool,
    processes_exceeded: bool,
    cpu_exceeded: bool,
) -> str | None:
    """Which limit ended the command, when one evidently did."""
    if memory_exceeded:
        return "memory_limit"
    if processes_exceeded:
        return "process_limit"
    if signal_number == signal.SIGXCPU or cpu_exceeded:
        return "cpu_limit"
    return None
