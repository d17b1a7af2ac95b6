"""Corral in front of every tool of a pydantic-ai agent, as a capability.

```python
from corral_sdk.integrations.pydantic_ai import CorralGuard

agent = Agent(model, tools=[shell, read_file], capabilities=[CorralGuard(client)])
```

`CorralGuard` implements pydantic-ai's `wrap_tool_execute` hook, which runs after the model's
arguments were validated and before the tool function: it asks Corral
(`client.check("tool.<name>", args=<the validated arguments>)`) and only then lets the tool run.
Being a capability, it covers every toolset of the agent (function tools, MCP servers, ...)
without rewrapping them; output tools are not tool calls and are not checked.

A refused call (block, throttle, approval required or denied) never runs the tool. By default
(`on_block="message"`) it raises pydantic-ai's `ToolFailed` with the refusal: the model sees a
failed tool result naming the policy and can adapt, and unlike `ModelRetry` the refusal does not
use up the tool's retry budget nor invite the model to simply try again. With `on_block="raise"`
the `PolicyBlocked` error propagates out of the agent run. A `steer` policy's replacement is
returned as the tool's result.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from pydantic_core import to_jsonable_python
from typing_extensions import override

from corral_sdk import Client
from corral_sdk.integrations.tool_calls import OnBlock, Proceed, Replace, ToolGuard

try:
    from pydantic_ai import RunContext, ToolFailed
    from pydantic_ai.capabilities import (
        AbstractCapability,
        ValidatedToolArgs,
        WrapToolExecuteHandler,
    )
    from pydantic_ai.messages import ToolCallPart
    from pydantic_ai.tools import ToolDefinition
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        "corral_sdk.integrations.pydantic_ai needs pydantic-ai: "
        "pip install 'corral-sdk[pydantic-ai]'"
    ) from missing

__all__ = ["CorralGuard"]


@dataclass
class CorralGuard(AbstractCapability[Any]):
    """Decide every tool call of the agent with Corral before the tool runs."""

    client: Client
    _: KW_ONLY
    on_block: OnBlock = "message"
    agent: str | None = None
    end_user: str | None = None
    _guard: ToolGuard = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._guard = ToolGuard(self.client, self.on_block, self.agent, self.end_user)

    @classmethod
    @override
    def get_serialization_name(cls) -> str | None:
        return None  # holds a live client: not something an agent spec file can describe

    @override
    async def wrap_tool_execute(
        self,
        ctx: RunContext[Any],
        *,
        call: ToolCallPart,
        tool_def: ToolDefinition,
        args: ValidatedToolArgs,
        handler: WrapToolExecuteHandler,
    ) -> Any:
        outcome = await self._guard.acheck(call.tool_name, to_jsonable_python(args, fallback=str))
        if isinstance(outcome, Proceed):
            return await handler(args)
        if isinstance(outcome, Replace):
            return outcome.value
        if self.on_block == "raise":
            raise outcome.error
        raise ToolFailed(outcome.text)
