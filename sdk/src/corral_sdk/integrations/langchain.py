"""Corral in front of LangChain tools, and so of LangGraph's `ToolNode` and prebuilt agents.

```python
from corral_sdk.integrations.langchain import guard_tools

tools = guard_tools([shell, read_file], client)
graph.add_node("tools", ToolNode(tools))
```

`guard_tool` returns a copy of the tool whose `_run` / `_arun` ask Corral
(`client.check("tool.<name>", args=<the arguments the model sent>)`) before the tool's own body.
The copy is an instance of a subclass of the tool's own class, so everything LangChain and
LangGraph read from the tool (name, schema, injected arguments, `response_format`, callbacks)
is unchanged.

A refused call (block, throttle, approval required or denied) never runs the body. By default
(`on_block="message"`) the refusal becomes the tool's result: `_run` raises a `ToolException`
that the guarded tool handles into a `ToolMessage` with `status="error"` naming the policy, so
the model reads why and can change course, exactly as with any other handled tool error. This
is preferred over raising because LangGraph's `ToolNode` re-raises anything but its own
invocation errors by default, which would end the whole graph run on the first refusal. With
`on_block="raise"` the `PolicyBlocked` error itself propagates (the agent run stops unless the
caller handles it). A `steer` policy's replacement is returned as the tool's result.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from pydantic_core import to_jsonable_python

from corral_sdk import Client
from corral_sdk.integrations.tool_calls import OnBlock, Proceed, Refuse, Replace, ToolGuard

try:
    from langchain_core.tools import BaseTool, ToolException
    from langchain_core.utils.pydantic import get_fields
    from pydantic import PrivateAttr
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        "corral_sdk.integrations.langchain needs langchain-core: "
        "pip install 'corral-sdk[langchain]'"
    ) from missing

__all__ = ["CorralToolRefusal", "guard_tool", "guard_tools"]

ToolT = TypeVar("ToolT", bound=BaseTool)
HandleToolError = bool | str | Callable[[ToolException], Any] | None

# Set while a guarded `_arun` that was allowed runs its original body: LangChain's default
# `_arun` calls `_run` in an executor (copying this context), which must not ask Corral twice.
_checked_tool: contextvars.ContextVar[BaseTool | None] = contextvars.ContextVar(
    "corral_checked_tool", default=None
)
_guarded_classes: dict[type[BaseTool], type[BaseTool]] = {}
_guarded_classes_lock = threading.Lock()


class CorralToolRefusal(ToolException):
    """A tool call Corral refused; its text is what the model reads as the tool's result."""

    def __init__(self, refusal: Refuse) -> None:
        super().__init__(refusal.text)
        self.text = refusal.text
        self.error = refusal.error


def guard_tool(
    tool: ToolT,
    client: Client,
    *,
    on_block: OnBlock = "message",
    agent: str | None = None,
    end_user: str | None = None,
) -> ToolT:
    """A copy of `tool` whose every call is decided by Corral before the tool's body runs."""
    guard = ToolGuard(client, on_block, agent, end_user)
    if isinstance(getattr(tool, "_corral_guard", None), ToolGuard):
        raise ValueError(f"the tool {tool.name!r} is already guarded by Corral")
    fields = {name: getattr(tool, name) for name in type(tool).model_fields}
    if on_block == "message":
        fields["handle_tool_error"] = _refusal_or(tool.handle_tool_error)
    # A copy without validation: the tool was validated when it was made.
    guarded = _guarded_class(type(tool)).model_construct(
        _fields_set=set(tool.model_fields_set), **fields
    )
    guarded._corral_guard = guard  # the subclass's private attribute
    return cast("ToolT", guarded)  # an instance of a subclass of the tool's own class


def guard_tools(
    tools: Iterable[BaseTool],
    client: Client,
    *,
    on_block: OnBlock = "message",
    agent: str | None = None,
    end_user: str | None = None,
) -> list[BaseTool]:
    """`guard_tool` for each tool, in order."""
    return [
        guard_tool(tool, client, on_block=on_block, agent=agent, end_user=end_user)
        for tool in tools
    ]


def _guarded_class(base: type[BaseTool]) -> type[BaseTool]:
    """The subclass of `base` whose `_run` and `_arun` ask Corral first; one per tool class."""
    with _guarded_classes_lock:
        cached = _guarded_classes.get(base)
        if cached is not None:
            return cached
        original_run = base._run
        original_arun = base._arun

        # `functools.wraps` keeps the original signature and annotations visible: LangChain
        # decides from them whether to pass `run_manager` and the `RunnableConfig`.
        @functools.wraps(original_run)
        def _run(self: BaseTool, *args: Any, **kwargs: Any) -> Any:
            if _checked_tool.get() is self:
                _checked_tool.set(None)  # checked by `_arun`; a nested call is checked again
                return original_run(self, *args, **kwargs)
            guard = _guard_of(self)
            outcome = guard.check(self.name, _model_arguments(self, args, kwargs))
            if isinstance(outcome, Proceed):
                return original_run(self, *args, **kwargs)
            return _without_running(self, guard, outcome)

        @functools.wraps(original_arun)
        async def _arun(self: BaseTool, *args: Any, **kwargs: Any) -> Any:
            guard = _guard_of(self)
            outcome = await guard.acheck(self.name, _model_arguments(self, args, kwargs))
            if not isinstance(outcome, Proceed):
                return _without_running(self, guard, outcome)
            token = _checked_tool.set(self)
            try:
                return await original_arun(self, *args, **kwargs)
            finally:
                _checked_tool.reset(token)

        namespace: dict[str, Any] = {
            "__module__": __name__,
            "__annotations__": {"_corral_guard": "Any"},
            "_corral_guard": PrivateAttr(default=None),
            "_run": _run,
            "_arun": _arun,
        }
        guarded = types.new_class(
            f"Corral{base.__name__}", (base,), exec_body=lambda body: body.update(namespace)
        )
        _guarded_classes[base] = guarded
        return guarded


def _guard_of(tool: BaseTool) -> ToolGuard:
    guard = getattr(tool, "_corral_guard", None)
    if not isinstance(guard, ToolGuard):
        raise TypeError("a Corral-guarded tool class was instantiated outside guard_tool")
    return guard


def _without_running(tool: BaseTool, guard: ToolGuard, outcome: Replace | Refuse) -> Any:
    if isinstance(outcome, Replace):
        if tool.response_format == "content_and_artifact":
            return outcome.value, None
        return outcome.value
    if guard.on_block == "raise":
        raise outcome.error
    raise CorralToolRefusal(outcome)


def _model_arguments(
    tool: BaseTool, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The arguments the model sent, as JSON values: no injected state, callbacks or config."""
    schema = tool.tool_call_schema
    visible = list(schema.get("properties", {}) if isinstance(schema, dict) else get_fields(schema))
    arguments: dict[str, Any] = {k: v for k, v in kwargs.items() if k in visible}
    positional = [name for name in visible if name not in arguments]
    for index, value in enumerate(args):
        arguments[positional[index] if index < len(positional) else f"arg{index}"] = value
    jsonable: dict[str, Any] = to_jsonable_python(arguments, fallback=str)
    return jsonable


def _refusal_or(original: HandleToolError) -> Callable[[ToolException], Any]:
    """A `handle_tool_error` that answers refusals and treats other errors as the tool did."""

    def handle(error: ToolException) -> Any:
        if isinstance(error, CorralToolRefusal):
            return error.text
        if not original:
            raise error
        if isinstance(original, bool):
            return error.args[0] if error.args else "Tool execution error"
        if isinstance(original, str):
            return original
        return original(error)

    return handle
