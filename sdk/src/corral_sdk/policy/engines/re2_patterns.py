"""Regular expressions compiled once with RE2, for `matches()` calls with a literal pattern.

cel-expr-python compiles the pattern of `matches()` on every evaluation (15 to 40 µs). With the
optional `google-re2` package (`pip install corral-sdk[re2]`) the cel-cpp adapter compiles each
literal pattern once here and matches through it (about 1 µs). Both run RE2 with its default
options and an unanchored search, which is what CEL's `matches` is, so the results are the same;
`tests/sdk/test_precompiled_regex.py` checks it on many patterns. Without `google-re2` nothing
is precompiled and the engine's own `matches` runs: never Python's `re`, whose syntax differs.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

# The pybind11 module under google-re2's Python wrapper. The wrapper's `search` builds a match
# object with decoded offsets (about 3 µs); only whether there is a match is needed here.
try:
    _re2: Any = importlib.import_module("re2._re2")
except ImportError:  # pragma: no cover - exercised where google-re2 is not installed
    _re2 = None

# Patterns come from stored policies; the table is bounded so that a stream of distinct
# policies cannot grow it without limit. A pattern dropped from it is compiled again.
_MAX_PATTERNS = 4096


def available() -> bool:
    """Whether google-re2 is installed, so that patterns can be precompiled."""
    return _re2 is not None


class PatternTable:
    """Literal patterns compiled once; `search` is CEL's `matches` for a compiled pattern."""

    def __init__(self) -> None:
        if _re2 is None:
            raise RuntimeError("google-re2 is not installed (pip install corral-sdk[re2])")
        self._options: Any = _re2.RE2.Options()
        # The default options are RE2's, as cel-cpp uses them; only the stderr line an invalid
        # pattern prints is turned off (an invalid pattern is never precompiled).
        self._options.log_errors = False
        self._unanchored: Any = _re2.RE2.Anchor.UNANCHORED
        self._compiled: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __contains__(self, pattern: object) -> bool:
        return pattern in self._compiled

    def clear(self) -> None:
        """Forget every compiled pattern (they are compiled again on use)."""
        with self._lock:
            self._compiled.clear()

    def compile(self, pattern: str) -> bool:
        """Compile and keep `pattern`; False when RE2 refuses it (the engine reports why)."""
        return self._regexp(pattern) is not None

    def _regexp(self, pattern: str) -> Any:
        found = self._compiled.get(pattern)
        if found is not None:
            return found
        regexp = _re2.RE2(pattern.encode(), self._options)
        if not regexp.ok():
            return None
        with self._lock:
            if len(self._compiled) >= _MAX_PATTERNS:
                self._compiled.clear()
            self._compiled[pattern] = regexp
        return regexp

    def search(self, text: str, pattern: str) -> bool:
        """Whether `pattern` matches anywhere in `text` (RE2 partial match)."""
        regexp = self._compiled.get(pattern)
        if regexp is None:
            regexp = self._regexp(pattern)
            if regexp is None:
                # Only patterns RE2 accepted are rewritten to call this; a table cleared since
                # then compiles again and gets the same answer.
                raise ValueError(f"invalid regular expression: {pattern}")
        encoded = text.encode()
        return bool(regexp.Match(self._unanchored, encoded, 0, len(encoded))[0][0] != -1)
