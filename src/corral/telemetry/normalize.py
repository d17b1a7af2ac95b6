"""Map the GenAI attribute dialects onto one set of derived fields; raw attributes stay as sent.

Dialects read: OpenTelemetry GenAI semantic conventions (current names and the older
`gen_ai.system` / `prompt_tokens` / `gen_ai.prompt.N.*` forms), OpenInference (`llm.*`,
`openinference.span.kind`, `tool.name`, `input.value`), OpenLLMetry legacy (`llm.request.*`,
`llm.usage.*`, `traceloop.*`) and Corral's own `corral.*` attributes.

Precedence, when dialects disagree, is the order of each key tuple below: Corral's own keys,
then current GenAI names, then older GenAI names, then OpenInference, then OpenLLMetry legacy.
Identity fields (agent, end-user) fall back to the resource attributes when the span has none.
`docs/telemetry.md` tabulates every rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypedDict

import orjson

from corral.telemetry.records import STATUS_ERROR, STATUS_OK, AttributeValue, SpanRecord

Category = Literal["llm", "tool", "agent", "other"]
Status = Literal["ok", "error", "unset"]

AGENT_NAME_KEYS = ("corral.agent.name", "gen_ai.agent.name", "agent.name")
AGENT_ID_KEYS = ("corral.agent.id", "gen_ai.agent.id")
TOOL_NAME_KEYS = ("gen_ai.tool.name", "tool.name")
TOOL_CALL_ID_KEYS = ("gen_ai.tool.call.id", "tool_call.id")
TOOL_ARGS_KEYS = ("corral.tool.args", "gen_ai.tool.call.arguments")
# Generic span input; read as tool arguments only on spans already known to be tool calls.
TOOL_INPUT_KEYS = ("input.value", "traceloop.entity.input")
PROVIDER_KEYS = (
    "gen_ai.provider.name",
    "gen_ai.system",
    "llm.provider",
    "llm.system",
    "llm.vendor",
)
REQUEST_MODEL_KEYS = ("gen_ai.request.model", "llm.request.model", "llm.model_name")
RESPONSE_MODEL_KEYS = ("gen_ai.response.model", "llm.response.model")
INPUT_TOKEN_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
TOTAL_TOKEN_KEYS = ("gen_ai.usage.total_tokens", "llm.token_count.total", "llm.usage.total_tokens")
CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
REASONING_TOKEN_KEYS = (
    "gen_ai.usage.reasoning.output_tokens",
    "llm.token_count.completion_details.reasoning",
)
END_USER_KEYS = ("corral.end_user.id", "user.id", "enduser.id", "langfuse.user.id")
CONVERSATION_KEYS = ("gen_ai.conversation.id", "session.id", "langfuse.session.id")
# Indexed message attributes (`gen_ai.prompt.0.content`, …) mark a model call by themselves.
LLM_MESSAGE_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.prompts.",
    "llm.completions.",
    "llm.input_messages.",
    "llm.output_messages.",
)

_OPERATION_CATEGORY: dict[str, Category] = {
    "chat": "llm",
    "text_completion": "llm",
    "completion": "llm",
    "embedding": "llm",
    "generate_content": "llm",
    "embeddings": "llm",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "invoke_workflow": "agent",
}
_OPENINFERENCE_CATEGORY: dict[str, Category] = {
    "llm": "llm",
    "embedding": "llm",
    "tool": "tool",
    "agent": "agent",
}
_TRACELOOP_CATEGORY: dict[str, Category] = {"tool": "tool", "agent": "agent"}
# OpenLLMetry `llm.request.type` → GenAI `gen_ai.operation.name`.
_REQUEST_TYPE_OPERATION = {
    "chat": "chat",
    "completion": "text_completion",
    "embedding": "embeddings",
    "rerank": "rerank",
}
# Spellings seen in the wild → the GenAI `gen_ai.provider.name` value.
_PROVIDER_ALIASES = {
    "az.ai.openai": "azure.ai.openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gen_ai",
    "bedrock": "aws.bedrock",
    "aws": "aws.bedrock",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
    "moonshot": "moonshot_ai",
}


class Derived(TypedDict):
    """The dialect-independent view of one span, stored next to its raw attributes."""

    category: Category
    call_name: str
    operation: str | None
    agent_name: str | None
    agent_id: str | None
    tool_name: str | None
    tool_call_id: str | None
    tool_args: str | None
    provider: str | None
    request_model: str | None
    response_model: str | None
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    total_tokens: int | None
    status: Status
    end_user_id: str | None
    conversation_id: str | None
    service_name: str | None


def normalize(span: SpanRecord) -> Derived:
    """Derive the internal fields of a decoded span."""
    return derive(
        span["name"], span["attributes"], span["resource_attributes"], span["status_code"]
    )


def derive(
    name: str,
    attrs: Mapping[str, AttributeValue],
    resource: Mapping[str, AttributeValue] | None = None,
    status_code: int = 0,
) -> Derived:
    """Derive the internal fields from a span name and its attributes.

    Also serves calls that are not spans yet (the decision API), which have only a name and
    attributes.
    """
    resource = resource or {}
    operation = _text(attrs, ("gen_ai.operation.name",))
    if operation is None:
        request_type = _text(attrs, ("llm.request.type",))
        operation = _REQUEST_TYPE_OPERATION.get(request_type.lower()) if request_type else None
    category = _category(attrs, operation)
    traceloop_kind = _lower(attrs.get("traceloop.span.kind"))
    traceloop_entity = _text(attrs, ("traceloop.entity.name",))

    tool_name = _text(attrs, TOOL_NAME_KEYS)
    if tool_name is None and traceloop_kind == "tool":
        tool_name = traceloop_entity
    tool_args = _json_text(attrs, TOOL_ARGS_KEYS)
    if tool_args is None and category == "tool":
        tool_args = _json_text(attrs, TOOL_INPUT_KEYS)

    agent_name = _text(attrs, AGENT_NAME_KEYS)
    if agent_name is None and traceloop_kind == "agent":
        agent_name = traceloop_entity
    if agent_name is None:
        agent_name = _text(resource, AGENT_NAME_KEYS)

    provider, request_model, response_model = _model(attrs)
    input_tokens = _count(attrs, INPUT_TOKEN_KEYS)
    output_tokens = _count(attrs, OUTPUT_TOKEN_KEYS)
    total_tokens = _count(attrs, TOTAL_TOKEN_KEYS)
    if total_tokens is None and (input_tokens is not None or output_tokens is not None):
        total_tokens = (input_tokens or 0) + (output_tokens or 0)

    return {
        "category": category,
        "call_name": _call_name(category, name, tool_name, provider, agent_name),
        "operation": operation,
        "agent_name": agent_name,
        "agent_id": _text(attrs, AGENT_ID_KEYS) or _text(resource, AGENT_ID_KEYS),
        "tool_name": tool_name,
        "tool_call_id": _text(attrs, TOOL_CALL_ID_KEYS),
        "tool_args": tool_args,
        "provider": provider,
        "request_model": request_model,
        "response_model": response_model,
        "model": response_model or request_model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_tokens": _count(attrs, CACHE_READ_KEYS),
        "cache_write_tokens": _count(attrs, CACHE_WRITE_KEYS),
        "reasoning_tokens": _count(attrs, REASONING_TOKEN_KEYS),
        "total_tokens": total_tokens,
        "status": _status(status_code, attrs),
        "end_user_id": _text(attrs, END_USER_KEYS) or _text(resource, END_USER_KEYS),
        "conversation_id": _text(attrs, CONVERSATION_KEYS),
        "service_name": _text(resource, ("service.name",)),
    }


def canonical_provider(raw: str) -> str:
    """Lowercase a provider name and map known aliases onto the GenAI semconv value."""
    name = raw.strip().lower()
    return _PROVIDER_ALIASES.get(name, name)


def _category(attrs: Mapping[str, AttributeValue], operation: str | None) -> Category:
    # Explicit kind markers decide first, in dialect order; inference from content comes last.
    if operation is not None and operation in _OPERATION_CATEGORY:
        return _OPERATION_CATEGORY[operation]
    openinference_kind = _lower(attrs.get("openinference.span.kind"))
    if openinference_kind:
        return _OPENINFERENCE_CATEGORY.get(openinference_kind, "other")
    traceloop_kind = _lower(attrs.get("traceloop.span.kind"))
    if traceloop_kind:
        return _TRACELOOP_CATEGORY.get(traceloop_kind, "other")
    if operation is not None:
        # An operation outside the known set (retrieval, memory, plan…) is not a model call.
        return "llm" if "llm.request.type" in attrs else "other"
    if any(k in attrs for k in TOOL_NAME_KEYS) or "corral.tool.args" in attrs:
        return "tool"
    if _looks_like_model_call(attrs):
        return "llm"
    return "other"


def _looks_like_model_call(attrs: Mapping[str, AttributeValue]) -> bool:
    for keys in (REQUEST_MODEL_KEYS, RESPONSE_MODEL_KEYS, INPUT_TOKEN_KEYS, OUTPUT_TOKEN_KEYS):
        if any(k in attrs for k in keys):
            return True
    return any(key.startswith(LLM_MESSAGE_PREFIXES) for key in attrs)


def _model(attrs: Mapping[str, AttributeValue]) -> tuple[str | None, str | None, str | None]:
    request_model = _text(attrs, REQUEST_MODEL_KEYS)
    response_model = _text(attrs, RESPONSE_MODEL_KEYS)
    raw_provider = _text(attrs, PROVIDER_KEYS)
    provider = canonical_provider(raw_provider) if raw_provider else None
    if provider is None:
        # A routed model id (`openai/gpt-4o`, as LiteLLM writes it) names its provider.
        model = request_model or response_model
        if model and "/" in model:
            provider = canonical_provider(model.split("/", 1)[0])
    return provider, request_model, response_model


def _call_name(
    category: Category,
    span_name: str,
    tool_name: str | None,
    provider: str | None,
    agent_name: str | None,
) -> str:
    if category == "tool":
        return f"tool.{tool_name}" if tool_name else "tool"
    if category == "llm":
        return f"llm.{provider}" if provider else "llm"
    if category == "agent":
        return f"agent.{agent_name}" if agent_name else "agent"
    return span_name


def _status(status_code: int, attrs: Mapping[str, AttributeValue]) -> Status:
    if status_code == STATUS_ERROR:
        return "error"
    if status_code == STATUS_OK:
        return "ok"
    # GenAI conventions set `error.type` on failed operations even when status stays unset.
    return "error" if _text(attrs, ("error.type",)) else "unset"


def _text(attrs: Mapping[str, AttributeValue], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if type(value) is str:
            value = value.strip()
            if value:
                return value
        elif type(value) is int:
            # Identifiers are sometimes exported as numbers (`user.id = 42`).
            return str(value)
    return None


def _lower(value: AttributeValue) -> str | None:
    return value.strip().lower() or None if type(value) is str else None


def _json_text(attrs: Mapping[str, AttributeValue], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if value is None:
            continue
        if type(value) is str:
            return value
        # Structured arguments are stored as the JSON text policies parse back into `args`.
        return orjson.dumps(value).decode()
    return None


def _count(attrs: Mapping[str, AttributeValue], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = attrs.get(key)
        if value is None:
            continue
        count: int | None = None
        if type(value) is int:
            count = value
        elif type(value) is float and value.is_integer():
            count = int(value)
        elif type(value) is str and len(value) <= 20 and value.isascii() and value.isdigit():
            # Some exporters send counts as strings.
            count = int(value)
        if count is not None and count >= 0:
            return count
    return None
