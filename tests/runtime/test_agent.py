"""How an assignment becomes the agent's prompt, tools and output."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from corral.runtime.agent import prepare, system_prompt
from corral.runtime.assignment import Assignment
from corral.runtime.tools import ReservedToolName, outcome_text


def _assignment(**overrides: Any) -> Assignment:
    values: dict[str, Any] = {
        "run_id": "run_1",
        "model": "gpt-test",
        "prompt": "You are careful.\n",
        "skills": ["# Sums\nAdd twice.", "Be brief."],
        "input": {"n": 1},
        "output_schema": {"type": "object"},
        "tools": [],
        "timeout_seconds": 30,
    }
    return Assignment.model_validate({**values, **overrides})


def test_skills_follow_the_prompt_as_sections() -> None:
    assert system_prompt(_assignment()) == "You are careful.\n\n# Sums\nAdd twice.\n\nBe brief."


async def test_the_user_message_is_the_input_json() -> None:
    async with httpx2.AsyncClient() as client:
        prepared = prepare(_assignment(input={"q": "é"}), client)

    assert prepared.user_message == '{"q": "é"}'
    assert prepared.output_wrapped is False


async def test_only_an_object_output_schema_travels_unwrapped() -> None:
    async with httpx2.AsyncClient() as client:
        assert prepare(_assignment(output_schema={"type": "string"}), client).output_wrapped
        assert not prepare(_assignment(output_schema=None), client).output_wrapped


@pytest.mark.parametrize("name", ["output", "log"])
async def test_the_built_in_tool_names_are_reserved(name: str) -> None:
    tool = {"name": name, "description": "", "parameters": {"type": "object"}}

    async with httpx2.AsyncClient() as client:
        with pytest.raises(ReservedToolName):
            prepare(_assignment(tools=[tool]), client)


def test_the_model_reads_results_refusals_and_errors() -> None:
    assert outcome_text({"status": "ok", "result": {"a": 1}}) == {"a": 1}
    assert outcome_text({"status": "refused", "message": "blocked"}) == "refused by policy: blocked"
    assert outcome_text({"status": "error", "message": None}) == "tool error: no reason given"
