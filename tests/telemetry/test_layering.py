"""`corral.telemetry` stays a pure library: no HTTP, dashboard or CLI imports."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import corral.telemetry

FORBIDDEN = ("corral.api", "corral.cli", "corral.web", "fastapi", "starlette", "sqlalchemy")


def test_telemetry_imports_no_outer_layer() -> None:
    package_dir = Path(corral.telemetry.__file__).parent
    modules = [info.name for info in pkgutil.iter_modules([str(package_dir)])]
    assert "decode" in modules
    for name in modules:
        tree = ast.parse((package_dir / f"{name}.py").read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for imported in names:
                assert not imported.startswith(FORBIDDEN), f"{name} imports {imported}"
