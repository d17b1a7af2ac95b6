"""OpenAI chat ↔ Anthropic Messages translation, case by case (pure functions)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from corral.runs.sidecar import anthropic_translation as translation


def request(**body: Any) -> dict[str, Any]:
    return translation.to_anthropic_request(body, "claude-x")


def test_system_and_developer_messages_become_the_system_prompt() -> None:
    translated = request(
        messages=[
            {"role": "system", "content": "One."},
            {"role": "developer", "content": [{"type": "text", "text": "Two."}]},
            {"role": "user", "content": "Hi"},
        ]
    )
    assert translated["system"] == "One.\n\nTwo."
    assert translated["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]


def test_images_become_image_blocks() -> None:
    translated = request(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "image_url", "image_url": {"url": "https://img.example/cat.png"}},
                ],
            }
        ]
    )
    assert translated["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://img.example/cat.png"}},
    ]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        (None, None, None),
    ],
)
def test_tool_choice(choice: Any, parallel: Any, expected: dict[str, Any] | None) -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    body: dict[str, Any] = {"messages": [], "tools": tools}
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    translated = request(**body)
    assert translated["tools"] == [
        {"name": "f", "input_schema": {"type": "object", "properties": {}}}
    ]
    assert translated.get("tool_choice") == expected


def test_arguments_that_are_not_json_are_kept() -> None:
    assistant = {
        "role": "assistant",
        "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": "{broken"}}],
    }
    translated = request(messages=[assistant])
    assert translated["messages"][0]["content"][0]["input"] == {"_raw": "{broken"}


def test_max_tokens_prefers_max_completion_tokens() -> None:
    assert request(messages=[], max_completion_tokens=7, max_tokens=9)["max_tokens"] == 7
    assert request(messages=[])["max_tokens"] == translation.DEFAULT_MAX_TOKENS


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reasons(stop_reason: str, finish_reason: str) -> None:
    message = {"id": "m", "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason}
    completion = translation.to_openai_completion(message, "claude-x")
    assert completion["choices"][0]["finish_reason"] == finish_reason


def test_cached_tokens_count_in_the_prompt_as_openai_counts_them() -> None:
    usage = translation.openai_usage(
        {
            "input_tokens": 10,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 5,
            "output_tokens": 3,
        }
    )
    assert usage["prompt_tokens"] == 115
    assert usage["prompt_tokens_details"] == {"cached_tokens": 100}
    assert usage["cache_creation_input_tokens"] == 5
    assert usage["total_tokens"] == 118


def test_a_stream_error_event_becomes_an_error_chunk() -> None:
    translator = translation.StreamTranslator("claude-x", include_usage=False)
    out = translator.feed(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    first, done = [line for line in out.split(b"\n\n") if line][:2]
    assert orjson.loads(first[6:]) == {
        "error": {"message": "Overloaded", "type": "overloaded_error", "code": None}
    }
    assert done == b"data: [DONE]"
    assert translator.error is not None
