"""The template catalog: every template compiles, and does what its examples say on two engines."""

from __future__ import annotations

from dataclasses import replace

import pytest

from corral.core.errors import NotFound
from corral.governance.conflicts import analyze
from corral.governance.templates import (
    OWASP_AGENTIC_TOP10,
    TEMPLATES,
    PolicyTemplate,
    TemplateCatalogError,
    TemplateExample,
    get_template,
    load_catalog,
    templates_for,
)
from corral_sdk.policy import Action, PolicySet, Posture, default_engine, validate_policy
from tests.sdk.engines import engine

# The reference engine runs every example too, so a template cannot lean on a quirk of one
# implementation.
ENGINES = ("cel-cpp", "cel-python")

CASES = [
    pytest.param(template, example, expected, id=f"{template.id}-{kind}{index}")
    for template in TEMPLATES
    for expected, kind, examples in (
        (True, "match", template.examples.matching),
        (False, "no_match", template.examples.not_matching),
    )
    for index, example in enumerate(examples)
]


def test_the_catalog_covers_the_issue_s_themes() -> None:
    assert len(TEMPLATES) >= 15
    categories = {template.category for template in TEMPLATES}
    assert {
        "execution",
        "filesystem",
        "exfiltration",
        "data",
        "credentials",
        "schedule",
        "cost",
        "injection",
        "memory",
        "rate",
        "privacy",
        "financial",
        "access",
    } <= categories
    assert {template.action for template in TEMPLATES} == set(Action) - {Action.LOG}


def test_every_cited_owasp_id_is_one_of_the_ten() -> None:
    cited = {risk for template in TEMPLATES for risk in template.owasp}
    assert cited <= set(OWASP_AGENTIC_TOP10)
    assert len(OWASP_AGENTIC_TOP10) == 10
    assert [t.id for t in templates_for("ASI06")] == ["memory-poisoning"]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.id)
def test_every_template_is_a_valid_policy_on_the_default_engine(template: PolicyTemplate) -> None:
    assert validate_policy(template.as_policy("tpl"), default_engine()) == ()


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize(("template", "example", "expected"), CASES)
def test_examples_decide_as_documented(
    template: PolicyTemplate, example: TemplateExample, expected: bool, engine_name: str
) -> None:
    policies = PolicySet(
        [template.as_policy("tpl")], default_posture=Posture.ALLOW, engine=engine(engine_name)
    )
    decision = policies.decide(example.name, example.attrs, now=example.at)
    assert decision.errors == ()
    hit = [h for h in decision.matched if h.policy_id == "tpl"]
    assert bool(hit) is expected
    if expected and template.action.control and template.action is not Action.THROTTLE:
        assert decision.action is template.action
        assert decision.policy_id == "tpl"
    if not expected:
        assert decision.action is Action.ALLOW
        assert decision.by_default


def test_the_whole_catalog_enabled_at_once_has_no_conflicts() -> None:
    policies = [template.as_policy(template.id) for template in TEMPLATES]
    assert analyze(policies) == []


def test_get_template_and_unknown_ids() -> None:
    assert get_template("memory-poisoning").owasp == ("ASI06",)
    with pytest.raises(NotFound) as raised:
        get_template("nope")
    assert raised.value.code == "policy_template_not_found"


def test_as_policy_copies_the_config() -> None:
    template = get_template("tool-call-rate")
    policy = template.as_policy("pol_1", name="my throttle", shadow=True)
    assert (policy.id, policy.name, policy.shadow, policy.enabled) == (
        "pol_1",
        "my throttle",
        True,
        True,
    )
    assert policy.action_config == template.action_config
    assert policy.action_config is not template.action_config


def test_examples_carry_tool_attributes_as_spans_do() -> None:
    example = get_template("dangerous-shell-commands").examples.matching[0]
    assert example.attrs["gen_ai.tool.name"] == "shell"
    assert example.attrs["corral.tool.args"] == '{"command": "rm -rf /"}'


VALID = """
templates:
  - id: t
    name: T
    description: d
    category: c
    owasp: [ASI02]
    action: block
    action_config: {}
    priority: 1
    applies_to: []
    expression: "true"
    examples:
      match: [{name: tool.x}]
      no_match: [{name: tool.y}]
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("owasp: [ASI02]", "owasp: [ASI11]"), "unknown OWASP ids"),
        (("action: block", "action: smite"), "unknown action"),
        (("priority: 1", "priority: high"), "priority must be an integer"),
        (("    category: c\n", "    category: c\n    extra: 1\n"), "keys must be exactly"),
        (("no_match: [{name: tool.y}]", "no_match: []"), "needs no_match"),
        (("match: [{name: tool.x}]", "match: [{name: tool.x, argz: {}}]"), "unknown example"),
        (("match: [{name: tool.x}]", 'match: [{name: tool.x, at: "2025-01-01T00:00:00"}]'), "at"),
    ],
)
def test_a_malformed_catalog_is_refused(change: tuple[str, str], message: str) -> None:
    assert len(load_catalog(VALID)) == 1
    with pytest.raises(TemplateCatalogError, match=message):
        load_catalog(VALID.replace(*change))


def test_duplicate_template_ids_are_refused() -> None:
    doubled = VALID + VALID.split("templates:\n", 1)[1]
    with pytest.raises(TemplateCatalogError, match="duplicate template ids"):
        load_catalog(doubled)


def test_a_template_that_stops_matching_its_example_would_fail() -> None:
    # The example check is only worth something if a wrong expression is caught.
    template = get_template("egress-allowlist")
    broken = replace(template, expression="false")
    example = template.examples.matching[0]
    decision = PolicySet([broken.as_policy("tpl")]).decide(example.name, example.attrs)
    assert decision.matched == ()
