"""The analysis modules are pure: no database, no web framework, so any layer can use them."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import corral.governance.conflicts, corral.governance.simulate, corral.governance.templates
heavy = ("sqlalchemy", "fastapi", "starlette", "pydantic", "corral.api", "corral.core.db")
print(",".join(sorted(m for m in sys.modules if m.startswith(heavy))))
"""


def test_the_governance_analysis_modules_import_no_framework() -> None:
    # A fresh interpreter, so that modules other tests imported cannot hide an import.
    completed = subprocess.run(  # noqa: S603
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == ""
