"""The runtime repeats what it cannot import from the server; these keep the copies equal."""

from __future__ import annotations

from corral.runs.sidecar import contracts, endpoints, scripted
from corral.runtime import agent, protocol


def test_the_runtime_calls_the_paths_the_sidecar_serves() -> None:
    assert protocol.ASSIGNMENT_PATH == contracts.ASSIGNMENT_PATH
    assert protocol.LOG_PATH == contracts.LOG_PATH
    assert protocol.OUTPUT_PATH == contracts.OUTPUT_PATH
    assert protocol.ERROR_PATH == contracts.ERROR_PATH
    assert protocol.TOOL_PATH_PREFIX == contracts.TOOL_PATH_PREFIX
    assert protocol.MODEL_BASE_PATH == contracts.MODEL_BASE_PATH


def test_the_runtime_and_the_sidecar_agree_on_the_built_in_tools() -> None:
    assert protocol.RESERVED_TOOL_NAMES == endpoints.RUNTIME_TOOLS
    assert protocol.OUTPUT_TOOL == scripted.OUTPUT_TOOL
    assert agent.WRAPPED_OUTPUT_KEY == scripted.WRAPPED_OUTPUT_KEY


def test_the_socket_is_where_the_sandbox_mounts_it() -> None:
    assert protocol.DEFAULT_SOCKET == "/run/corral/sidecar.sock"
    assert protocol.SOCKET_ENV == "CORRAL_SIDECAR_SOCKET"
