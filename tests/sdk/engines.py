"""The three measured engines, built once per test session."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from corral_sdk.policy import PolicyEngine
from corral_sdk.policy.engines.cel_cpp import CelCppEngine
from corral_sdk.policy.engines.cel_python import CelPythonEngine
from corral_sdk.policy.engines.cel_rust import CelRustEngine

ENGINE_NAMES = ("cel-cpp", "cel-rust", "cel-python")


@cache
def engine(name: str) -> PolicyEngine:
    """The engine registered under `name`."""
    factories: dict[str, Callable[[], PolicyEngine]] = {
        "cel-cpp": CelCppEngine,
        "cel-rust": CelRustEngine,
        "cel-python": CelPythonEngine,
    }
    return factories[name]()
