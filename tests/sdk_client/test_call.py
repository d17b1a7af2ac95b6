"""How a proposed call is presented to policies and to spans."""

from __future__ import annotations

import json
from datetime import date

from corral_sdk.call import args_json, proposed_call, span_value, tool_name_of


def test_the_attributes_are_those_ingest_derives_a_tool_call_from() -> None:
    call = proposed_call(
        "tool.github.create_issue",
        args={"title": "bug"},
        attributes={"env": "prod", "gen_ai.tool.name": "kept"},
        agent="ops-bot",
        end_user="customer-42",
    )
    assert call.tool_name == "github.create_issue"
    assert call.attributes == {
        "env": "prod",
        "gen_ai.tool.name": "kept",
        "gen_ai.operation.name": "execute_tool",
        "corral.tool.args": '{"title":"bug"}',
        "gen_ai.agent.name": "ops-bot",
        "corral.agent.name": "ops-bot",
        "corral.end_user.id": "customer-42",
    }
    assert tool_name_of("search") == "search"


def test_any_argument_becomes_json_text() -> None:
    cyclic: list[object] = []
    cyclic.append(cyclic)
    assert json.loads(args_json({"when": date(2026, 1, 2), "tags": {"b", "a"}})) == {
        "when": "2026-01-02",
        "tags": ["a", "b"],
    }
    assert json.loads(args_json({"key": {1: "one", (2, 3): "pair"}})) == {
        "key": {"1": "one", "(2, 3)": "pair"}
    }
    assert "when" in args_json({"when": cyclic})


def test_span_values_are_what_opentelemetry_accepts() -> None:
    assert span_value("x") == "x"
    assert span_value(3) == 3
    assert span_value(["a", "b"]) == ("a", "b")
    assert span_value(["a", 1]) == '["a", 1]'
    assert span_value({"k": [1]}) == '{"k": [1]}'
    assert span_value(None) == "null"
