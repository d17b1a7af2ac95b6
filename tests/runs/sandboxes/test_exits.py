from __future__ import annotations

import signal

import pytest

from corral.runs.sandboxes.exits import exit_reason, split_bwrap_status


@pytest.mark.parametrize(
    ("returncode", "expected"),
    [
        (0, (0, None)),
        (3, (3, None)),
        (128, (128, None)),
        (128 + signal.SIGKILL, (None, signal.SIGKILL)),
        (128 + signal.SIGXCPU, (None, signal.SIGXCPU)),
        (-signal.SIGKILL, (None, signal.SIGKILL)),
        (255, (255, None)),
    ],
)
def test_bwrap_statuses(returncode: int, expected: tuple[int | None, int | None]) -> None:
    assert split_bwrap_status(returncode) == expected


def test_reasons_in_order_of_evidence() -> None:
    flags = {"memory_exceeded": False, "processes_exceeded": False, "cpu_exceeded": False}
    assert exit_reason(None, **flags) is None
    assert exit_reason(signal.SIGKILL, **flags) is None
    assert exit_reason(signal.SIGXCPU, **flags) == "cpu_limit"
    assert exit_reason(signal.SIGKILL, **{**flags, "cpu_exceeded": True}) == "cpu_limit"
    assert exit_reason(signal.SIGKILL, **{**flags, "processes_exceeded": True}) == "process_limit"
    everything = dict.fromkeys(flags, True)
    assert exit_reason(signal.SIGKILL, **everything) == "memory_limit"
