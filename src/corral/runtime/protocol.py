"""The runtime's half of the runtime ↔ sidecar protocol (see docs/runtime.md).

The runtime cannot import `corral.runs.sidecar.contracts`, so the paths are repeated here; a test
keeps both copies equal.
"""

from __future__ import annotations

SOCKET_ENV = "CORRAL_SIDECAR_SOCKET"
DEFAULT_SOCKET = "/run/corral/sidecar.sock"
# The host name in URLs sent over the socket; nothing resolves it.
SIDECAR_ORIGIN = "http://sidecar"

ASSIGNMENT_PATH = "/corral/v1/assignment"
LOG_PATH = "/corral/v1/log"
OUTPUT_PATH = "/corral/v1/output"
ERROR_PATH = "/corral/v1/error"
TOOL_PATH_PREFIX = "/corral/v1/tools/"
MODEL_BASE_PATH = "/v1"

# Built into the runtime; never sent to the sidecar's tool endpoint.
OUTPUT_TOOL = "output"
LOG_TOOL = "log"
RESERVED_TOOL_NAMES = frozenset({OUTPUT_TOOL, LOG_TOOL})
