"""Dialect normalization: one fixture per dialect, plus the documented precedence rules."""

from __future__ import annotations

from typing import Any

import pytest

from corral.telemetry.decode import decode_protobuf
from corral.telemetry.normalize import canonical_provider, derive, normalize
from corral.telemetry.records import AttributeValue
from tests.telemetry.otlp_builders import request, span


def test_genai_current_chat_span() -> None:
    derived = derive(
        "chat gpt-4o",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 200,
            "gen_ai.usage.cache_read.input_tokens": 600,
            "gen_ai.usage.cache_creation.input_tokens": 100,
            "gen_ai.usage.reasoning.output_tokens": 50,
            "gen_ai.conversation.id": "conv_1",
            "gen_ai.agent.name": "support",
            "gen_ai.agent.id": "asst_1",
        },
        {"service.name": "bot"},
        1,
    )
    assert derived == {
        "category": "llm",
        "call_name": "llm.openai",
        "operation": "chat",
        "agent_name": "support",
        "agent_id": "asst_1",
        "tool_name": None,
        "tool_call_id": None,
        "tool_args": None,
        "provider": "openai",
        "request_model": "gpt-4o",
        "response_model": "gpt-4o-2024-08-06",
        "model": "gpt-4o-2024-08-06",
        "input_tokens": 1000,
        "output_tokens": 200,
        "cache_read_tokens": 600,
        "cache_write_tokens": 100,
        "reasoning_tokens": 50,
        "total_tokens": 1200,
        "status": "ok",
        "end_user_id": None,
        "conversation_id": "conv_1",
        "service_name": "bot",
    }


def test_genai_older_names() -> None:
    derived = derive(
        "openai.chat",
        {
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.prompt_tokens": 12,
            "gen_ai.usage.completion_tokens": 3,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "hi",
            "gen_ai.completion.0.content": "hello",
        },
    )
    assert derived["category"] == "llm"
    assert derived["provider"] == "openai"
    assert (derived["input_tokens"], derived["output_tokens"]) == (12, 3)
    assert derived["call_name"] == "llm.openai"


def test_indexed_prompt_attributes_alone_mark_a_model_call() -> None:
    assert derive("x", {"gen_ai.prompt.0.content": "hi"})["category"] == "llm"
    assert derive("x", {"llm.input_messages.0.message.content": "hi"})["category"] == "llm"


def test_genai_tool_span_with_structured_arguments() -> None:
    derived = derive(
        "execute_tool search",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": {"q": "weather", "limit": 3},
            "gen_ai.provider.name": "openai",
        },
    )
    assert derived["category"] == "tool"
    assert derived["call_name"] == "tool.search"
    assert derived["tool_call_id"] == "call_1"
    assert derived["tool_args"] == '{"q":"weather","limit":3}'


def test_genai_agent_span() -> None:
    derived = derive(
        "invoke_agent support",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"},
    )
    assert (derived["category"], derived["call_name"]) == ("agent", "agent.support")


def test_openinference_llm_span() -> None:
    derived = derive(
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "claude-3-5-sonnet-20241022",
            "llm.provider": "anthropic",
            "llm.system": "anthropic",
            "llm.token_count.prompt": 5000,
            "llm.token_count.completion": 300,
            "llm.token_count.total": 5300,
            "llm.token_count.prompt_details.cache_read": 4000,
            "llm.token_count.prompt_details.cache_write": 500,
            "input.value": "Hello",
            "session.id": "sess-9",
            "user.id": "u-7",
        },
    )
    assert derived["category"] == "llm"
    assert derived["provider"] == "anthropic"
    assert derived["model"] == "claude-3-5-sonnet-20241022"
    assert (derived["input_tokens"], derived["output_tokens"]) == (5000, 300)
    assert (derived["cache_read_tokens"], derived["cache_write_tokens"]) == (4000, 500)
    assert derived["total_tokens"] == 5300
    assert (derived["conversation_id"], derived["end_user_id"]) == ("sess-9", "u-7")
    assert derived["tool_args"] is None


def test_openinference_tool_and_agent_spans() -> None:
    tool = derive(
        "get_weather",
        {"openinference.span.kind": "TOOL", "tool.name": "get_weather", "input.value": '{"c":1}'},
    )
    assert (tool["category"], tool["tool_name"], tool["tool_args"]) == (
        "tool",
        "get_weather",
        '{"c":1}',
    )
    agent = derive("run", {"openinference.span.kind": "AGENT", "agent.name": "planner"})
    assert (agent["category"], agent["agent_name"]) == ("agent", "planner")
    chain = derive("chain", {"openinference.span.kind": "CHAIN", "llm.model_name": "gpt-4o"})
    assert (chain["category"], chain["call_name"]) == ("other", "chain")


def test_openllmetry_legacy_span() -> None:
    derived = derive(
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.system": "Azure",
            "llm.request.model": "gpt-4",
            "llm.response.model": "gpt-4-0613",
            "llm.usage.prompt_tokens": 40,
            "llm.usage.completion_tokens": 2,
            "llm.usage.total_tokens": 42,
        },
    )
    assert derived["category"] == "llm"
    assert derived["operation"] == "chat"
    assert derived["provider"] == "azure.ai.openai"
    assert (derived["request_model"], derived["model"]) == ("gpt-4", "gpt-4-0613")
    assert (derived["input_tokens"], derived["total_tokens"]) == (40, 42)


def test_traceloop_entities() -> None:
    tool = derive(
        "search.tool",
        {
            "traceloop.span.kind": "tool",
            "traceloop.entity.name": "search",
            "traceloop.entity.input": '{"q": "x"}',
        },
    )
    assert (tool["category"], tool["call_name"], tool["tool_args"]) == (
        "tool",
        "tool.search",
        '{"q": "x"}',
    )
    agent = derive("a.agent", {"traceloop.span.kind": "agent", "traceloop.entity.name": "triage"})
    assert (agent["category"], agent["agent_name"]) == ("agent", "triage")
    task = derive("t.task", {"traceloop.span.kind": "task", "traceloop.entity.name": "step"})
    assert (task["category"], task["agent_name"], task["tool_name"]) == ("other", None, None)


def test_corral_attributes_win() -> None:
    derived = derive(
        "tool.shell",
        {
            "gen_ai.tool.name": "shell",
            "corral.tool.args": '{"cmd": "ls"}',
            "gen_ai.tool.call.arguments": '{"cmd": "rm"}',
            "corral.agent.name": "ops",
            "gen_ai.agent.name": "other",
            "corral.end_user.id": "cust_1",
            "user.id": "someone-else",
        },
    )
    assert derived["call_name"] == "tool.shell"
    assert derived["tool_args"] == '{"cmd": "ls"}'
    assert (derived["agent_name"], derived["end_user_id"]) == ("ops", "cust_1")


@pytest.mark.parametrize(
    ("attrs", "field", "expected"),
    [
        (
            {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.prompt_tokens": 20},
            "input_tokens",
            10,
        ),
        ({"gen_ai.usage.prompt_tokens": 20, "llm.token_count.prompt": 30}, "input_tokens", 20),
        ({"llm.token_count.prompt": 30, "llm.usage.prompt_tokens": 40}, "input_tokens", 30),
        ({"gen_ai.provider.name": "anthropic", "gen_ai.system": "openai"}, "provider", "anthropic"),
        ({"gen_ai.system": "openai", "llm.provider": "azure"}, "provider", "openai"),
        ({"gen_ai.request.model": "a", "llm.request.model": "b"}, "request_model", "a"),
        ({"gen_ai.response.model": "r", "gen_ai.request.model": "q"}, "model", "r"),
        ({"gen_ai.conversation.id": "c", "session.id": "s"}, "conversation_id", "c"),
        ({"user.id": "u", "enduser.id": "e"}, "end_user_id", "u"),
        ({"gen_ai.agent.name": "g", "agent.name": "o"}, "agent_name", "g"),
        ({"gen_ai.tool.name": "g", "tool.name": "o"}, "tool_name", "g"),
    ],
)
def test_precedence_between_dialects(attrs: dict[str, Any], field: str, expected: object) -> None:
    assert derive("span", attrs)[field] == expected  # type: ignore[literal-required]


def test_explicit_kind_beats_inference() -> None:
    marked = {"openinference.span.kind": "TOOL", "tool.name": "t", "llm.model_name": "gpt-4o"}
    assert derive("s", marked)["category"] == "tool"
    operation = {"gen_ai.operation.name": "chat", "gen_ai.tool.name": "t"}
    assert derive("s", operation)["category"] == "llm"
    assert derive("s", {"gen_ai.tool.name": "t", "gen_ai.request.model": "m"})["category"] == "tool"
    retrieval = {"gen_ai.operation.name": "retrieval", "gen_ai.request.model": "m"}
    assert derive("search docs", retrieval)["call_name"] == "search docs"


def test_identity_falls_back_to_resource_attributes() -> None:
    resource = {"corral.agent.name": "res-agent", "corral.end_user.id": "res-user"}
    assert derive("s", {}, resource)["agent_name"] == "res-agent"
    assert derive("s", {}, resource)["end_user_id"] == "res-user"
    assert derive("s", {"gen_ai.agent.name": "span-agent"}, resource)["agent_name"] == "span-agent"


@pytest.mark.parametrize(
    ("status_code", "attrs", "expected"),
    [(0, {}, "unset"), (1, {}, "ok"), (2, {}, "error"), (0, {"error.type": "timeout"}, "error")],
)
def test_status(status_code: int, attrs: dict[str, Any], expected: str) -> None:
    assert derive("s", attrs, None, status_code)["status"] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), (7.0, 7), ("7", 7), (True, None), (-1, None), ("7.5", None), ("x", None)],
)
def test_token_counts_tolerate_exporter_types(value: AttributeValue, expected: int | None) -> None:
    assert derive("s", {"gen_ai.usage.input_tokens": value})["input_tokens"] == expected


def test_unusable_first_key_falls_through_to_the_next_dialect() -> None:
    attrs: dict[str, AttributeValue] = {
        "gen_ai.usage.input_tokens": "n/a",
        "llm.token_count.prompt": 9,
    }
    assert derive("s", attrs)["input_tokens"] == 9
    assert derive("s", {"gen_ai.agent.name": "  ", "agent.name": "b"})["agent_name"] == "b"


def test_provider_from_a_routed_model_id() -> None:
    derived = derive("completion", {"gen_ai.request.model": "anthropic/claude-3-haiku"})
    assert (derived["category"], derived["provider"]) == ("llm", "anthropic")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("OpenAI", "openai"),
        ("az.ai.openai", "azure.ai.openai"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("mistralai", "mistral_ai"),
        ("gcp.gemini", "gcp.gemini"),
        ("something-new", "something-new"),
    ],
)
def test_canonical_provider(raw: str, expected: str) -> None:
    assert canonical_provider(raw) == expected


def test_call_names_without_a_name() -> None:
    assert derive("s", {"gen_ai.operation.name": "execute_tool"})["call_name"] == "tool"
    assert derive("s", {"gen_ai.operation.name": "chat"})["call_name"] == "llm"
    assert derive("s", {"gen_ai.operation.name": "invoke_agent"})["call_name"] == "agent"


def test_total_tokens_derived_when_absent() -> None:
    assert derive("s", {"gen_ai.usage.output_tokens": 5})["total_tokens"] == 5
    assert derive("s", {})["total_tokens"] is None


def test_normalize_reads_a_decoded_span() -> None:
    message = request(
        [
            span(
                attributes={"gen_ai.operation.name": "chat", "gen_ai.system": "groq"}, status_code=2
            )
        ],
        resource={"service.name": "svc", "gen_ai.agent.name": "from-resource"},
    )
    derived = normalize(decode_protobuf(message.SerializeToString()).spans[0])
    assert derived["call_name"] == "llm.groq"
    assert derived["status"] == "error"
    assert derived["agent_name"] == "from-resource"
    assert derived["service_name"] == "svc"
