"""Every engine on the committed conformance corpus, with its documented divergences."""

from __future__ import annotations

from collections import Counter

import pytest

from corral_sdk.policy import default_engine
from tests.sdk.conformance import Case, conforms, load_cases, load_divergences, run_case
from tests.sdk.engines import ENGINE_NAMES, engine

CASES = load_cases()
REQUIRED_CATEGORIES = {
    "strings",
    "in",
    "macros",
    "has",
    "missing keys",
    "numbers",
    "null",
    "timestamps",
    "helpers",
    "args",
    "errors",
}


def test_the_corpus_covers_every_required_construct() -> None:
    counts = Counter(case.category for case in CASES)
    assert set(counts) >= REQUIRED_CATEGORIES
    assert len(CASES) >= 40


def test_divergences_name_real_cases_and_engines() -> None:
    ids = {case.id for case in CASES}
    divergences = load_divergences()
    assert set(divergences) == set(ENGINE_NAMES)
    for listed in divergences.values():
        assert set(listed) <= ids


def test_the_default_engine_has_no_divergence() -> None:
    assert default_engine().name == "cel-cpp"
    assert load_divergences()["cel-cpp"] == {}


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_engine_on_case(engine_name: str, case: Case) -> None:
    got = run_case(engine(engine_name), case)
    diverges_to = load_divergences()[engine_name].get(case.id)
    if diverges_to is None:
        assert conforms(got, case.expect), f"{engine_name} gave {got}"
    else:
        assert got == diverges_to, f"documented divergence no longer happens: {got}"
