"""The pydantic-ai agent for one assignment, talking to its model through the sidecar."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx2
from openai import AsyncOpenAI
from pydantic_ai import Agent, StructuredDict, ToolOutput
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider
from pydantic_ai.usage import UsageLimits

from corral.runtime.assignment import Assignment
from corral.runtime.protocol import MODEL_BASE_PATH, OUTPUT_TOOL, SIDECAR_ORIGIN
from corral.runtime.sidecar_client import SidecarClient
from corral.runtime.tools import build_tools

# The sidecar holds the real key; the OpenAI client insists on some value.
_NO_KEY = "held-by-the-sidecar"
# A non-object output schema travels wrapped, since a tool's parameters are always an object.
WRAPPED_OUTPUT_KEY = "value"
_OUTPUT_DESCRIPTION = "Return the final result of the task. Call this exactly once, at the end."


@dataclass(frozen=True, slots=True)
class PreparedAgent:
    agent: Agent[None, Any]
    user_message: str
    # True when the output schema is not an object and the result sits under WRAPPED_OUTPUT_KEY.
    output_wrapped: bool


def system_prompt(assignment: Assignment) -> str:
    """The prompt, then each skill as its own section (the executor writes each skill's heading)."""
    sections = [assignment.prompt.strip(), *(skill.strip() for skill in assignment.skills)]
    return "\n\n".join(section for section in sections if section)


def _is_object_schema(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object"


def _output_type(schema: dict[str, Any] | None) -> tuple[Any, bool]:
    if schema is None:
        return str, False
    wrapped = not _is_object_schema(schema)
    if wrapped:
        schema = {
            "type": "object",
            "properties": {WRAPPED_OUTPUT_KEY: schema},
            "required": [WRAPPED_OUTPUT_KEY],
        }
    structured = StructuredDict(schema, name=OUTPUT_TOOL)
    return ToolOutput(structured, name=OUTPUT_TOOL, description=_OUTPUT_DESCRIPTION), wrapped


def _model(name: str, http: httpx2.AsyncClient) -> OpenAIChatModel:
    # No retries here: the sidecar's gateway owns retrying the provider.
    client = AsyncOpenAI(
        base_url=SIDECAR_ORIGIN + MODEL_BASE_PATH, api_key=_NO_KEY, http_client=http, max_retries=0
    )
    provider = OpenAICompatibleProvider("corral-sidecar", openai_client=client)
    return OpenAIChatModel(name, provider=provider)


def prepare(assignment: Assignment, http: httpx2.AsyncClient) -> PreparedAgent:
    output_type, wrapped = _output_type(assignment.output_schema)
    agent: Agent[None, Any] = Agent(
        _model(assignment.model, http),
        output_type=output_type,
        system_prompt=system_prompt(assignment),
        tools=build_tools(SidecarClient(http), assignment.tools),
        name="corral-runtime",
    )
    return PreparedAgent(
        agent=agent,
        user_message=json.dumps(assignment.input, ensure_ascii=False),
        output_wrapped=wrapped,
    )


async def run(prepared: PreparedAgent) -> Any:
    """The agent's final output, unwrapped; the sidecar bounds cost, the executor time."""
    result = await prepared.agent.run(
        prepared.user_message, usage_limits=UsageLimits(request_limit=None)
    )
    output = result.output
    if prepared.output_wrapped and isinstance(output, dict):
        return output.get(WRAPPED_OUTPUT_KEY)
    return output
