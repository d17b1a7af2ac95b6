"""Differential testing: the default engine against cel-python on generated calls.

Values are generated with the types the expressions expect (or missing, or null), because the
engines are known to differ on comparisons across types (docs/policy-engine.md lists every
divergence); everywhere else they must agree on match / no match / error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from corral_sdk.policy import Activation
from tests.sdk.engines import engine

EXPRESSIONS = (
    'args.command.contains("rm -rf") || args.command.matches("(?i)drop\\\\s+table")',
    "size(args.command) > 10",
    'args.command < "m"',
    'lower(args.command).contains("select")',
    'args.tags.exists(t, t.startsWith("secret")) && !args.tags.all(t, t == "")',
    "args.tags.filter(t, size(t) > 3).size() >= 2",
    "args.tags.map(t, size(t)).exists(n, n > 5)",
    '"pii" in args.tags',
    'attrs["gen_ai.usage.input_tokens"] > 1000 && attrs["gen_ai.usage.cost"] > 0.5',
    'double(attrs["gen_ai.usage.input_tokens"]) * attrs["gen_ai.usage.cost"] > 100.0',
    'attrs["gen_ai.usage.input_tokens"] * 1000 > 5000',
    'url_host(args.url) == "example.com" || host_matches(url_host(args.url), "internal")',
    'url_path(args.url).startsWith("/admin")',
    'has(args.url) && url_scheme(args.url) == "http"',
    "args.count / args.count == 1",
    "args.count % 7 == 3",
    "int(args.ratio) == 0",
    'string(args.count) == "42"',
    "args.ratio < 0.5 || args.ratio >= 2.0",
    "now.getHours() < 9 || now.getDayOfWeek() == 0",
    'now - duration("24h") < timestamp("2025-01-01T00:00:00Z")',
    'attrs["corral.sandboxed"] == false && name.startsWith("tool.")',
    'has(attrs.nothing) || attrs["gen_ai.tool.name"] in ["shell", "exec"]',
    "args.parent == null",
)

URLS = st.one_of(
    st.text(max_size=40),
    st.builds(
        "{}://{}{}".format,
        st.sampled_from(["http", "https", "HTTP", "ftp"]),
        st.sampled_from(["example.com", "a.internal", "Example.COM.", "evilexample.com", "[::1]"]),
        st.sampled_from(["", "/", "/admin", "/a/../admin", "/%61dmin/x", "/x?y=1"]),
    ),
)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A key may be missing (an error in every engine), null, or of its expected type.
    return st.one_of(st.just(...), st.none(), strategy)


@st.composite
def _calls(draw: st.DrawFn) -> Activation:
    args = {
        "command": draw(_optional(st.text(max_size=30))),
        "url": draw(_optional(URLS)),
        "tags": draw(_optional(st.lists(st.text(max_size=8), max_size=4))),
        "count": draw(_optional(st.integers(min_value=-(2**63), max_value=2**63 - 1))),
        "ratio": draw(_optional(st.floats(allow_nan=False, allow_infinity=False))),
        "parent": draw(st.sampled_from([..., None, "root"])),
    }
    attrs = {
        "gen_ai.tool.name": draw(_optional(st.sampled_from(["shell", "exec", "http_get"]))),
        "gen_ai.usage.input_tokens": draw(_optional(st.integers(-(2**40), 2**40))),
        "gen_ai.usage.cost": draw(_optional(st.floats(-1e6, 1e6))),
        "corral.sandboxed": draw(_optional(st.booleans())),
    }
    present_args = {key: value for key, value in args.items() if value is not ...}
    flat: dict[str, Any] = {key: value for key, value in attrs.items() if value is not ...}
    flat["corral.tool.args"] = draw(
        st.one_of(st.just(json.dumps(present_args)), st.text(max_size=10))
    )
    # Hypothesis takes naive bounds and applies `timezones` to the values it draws.
    earliest, latest = datetime(2000, 1, 1), datetime(2099, 12, 31)  # noqa: DTZ001
    moment = draw(st.datetimes(earliest, latest, timezones=st.just(UTC)))
    name = draw(st.sampled_from(["tool.shell", "tool.http_get", "chat"]))
    return Activation(name, flat, moment)


def _null_arg(key: str) -> Callable[[Activation], bool]:
    return lambda call: key in call.args and call.args[key] is None


def _null_attr(key: str) -> Callable[[Activation], bool]:
    return lambda call: key in call.attrs and call.attrs[key] is None


# Inputs on which an expression meets a divergence already pinned by the corpus (case id in
# the comment); the engines are compared on every other input.
KNOWN_DIVERGENCES: dict[str, Callable[[Activation], bool]] = {
    # conversion-of-null-is-error, size-of-null-is-error: cel-python converts null to 0 / "None"
    "int(args.ratio) == 0": _null_arg("ratio"),
    'string(args.count) == "42"': _null_arg("count"),
    "size(args.command) > 10": _null_arg("command"),
    # string-with-nul-*: the default engine sees NUL as U+2400, which sorts after "m"
    'args.command < "m"': lambda call: "\x00" in str(call.args.get("command", "")),
    'double(attrs["gen_ai.usage.input_tokens"]) * attrs["gen_ai.usage.cost"] > 100.0': _null_attr(
        "gen_ai.usage.input_tokens"
    ),
}

# Built at import: creating a cel-python environment raises the process recursion limit, which
# Hypothesis would report as a change made during the test.
DEFAULT, REFERENCE = engine("cel-cpp"), engine("cel-python")
PROGRAMS = [(source, DEFAULT.compile(source), REFERENCE.compile(source)) for source in EXPRESSIONS]


@settings(max_examples=150, deadline=None)
@given(_calls())
def test_default_engine_agrees_with_cel_python(call: Activation) -> None:
    for source, ours, theirs in PROGRAMS:
        known = KNOWN_DIVERGENCES.get(source)
        if known is not None and known(call):
            continue
        expected = REFERENCE.evaluate(theirs, call).outcome
        got = DEFAULT.evaluate(ours, call)
        assert got.outcome == expected, (source, got, call.variables())
