"""The SDK stands alone: importing and using the policy engine never loads the server."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from corral_sdk.policy import Policy, PolicySet
PolicySet([Policy("p", "p", "true", "block")]).decide("tool.shell", {})
print(",".join(sorted(m for m in sys.modules if m == "corral" or m.startswith("corral."))))
"""


def test_the_policy_engine_imports_nothing_from_the_server() -> None:
    # A fresh interpreter, so that no module another test imported hides an import.
    completed = subprocess.run(  # noqa: S603
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == ""
