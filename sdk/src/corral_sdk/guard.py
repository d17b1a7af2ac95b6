"""`@client.guard`: decide each call of a function before its body runs.

The call's arguments are bound to the function's signature (defaults applied) and become the
`args` policies see: `def shell(command: str)` called as `shell("ls")` gives `args.command`.
Keyword arguments gathered by `**kwargs` are merged into `args`; `*args` is a list under its
own name; a method's `self` or `cls` is left out.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, Protocol, TypeVar, cast

P = ParamSpec("P")
R = TypeVar("R")

_SKIPPED_FIRST = frozenset({"self", "cls"})


class GuardRunner(Protocol):
    """What runs a guarded call: the client."""

    def run_guarded(
        self,
        name: str,
        agent: str | None,
        args: Mapping[str, Any],
        call: Callable[[], R],
        *,
        approval_timeout_seconds: float | None = None,
    ) -> R: ...

    async def run_guarded_async(
        self,
        name: str,
        agent: str | None,
        args: Mapping[str, Any],
        call: Callable[[], Awaitable[R]],
        *,
        approval_timeout_seconds: float | None = None,
    ) -> R: ...


def bound_arguments(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The arguments of one call by parameter name; raises TypeError as the call would."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    result: dict[str, Any] = {}
    for index, (name, value) in enumerate(bound.arguments.items()):
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            for key, item in value.items():
                result.setdefault(key, item)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            result[name] = list(value)
        elif not (index == 0 and name in _SKIPPED_FIRST):
            result[name] = value
    return result


def make_guard(
    runner: GuardRunner,
    fn: Callable[P, R],
    *,
    name: str | None,
    agent: str | None,
    approval_timeout_seconds: float | None = None,
) -> Callable[P, R]:
    """`fn` wrapped so that each call is decided first (sync and async functions alike).

    `approval_timeout_seconds` bounds how long a call held for approval waits (None: the
    client's setting)."""
    wait = approval_timeout_seconds
    signature = inspect.signature(fn)
    call_name = name if name is not None else f"tool.{fn.__name__}"

    if inspect.iscoroutinefunction(fn):
        async_fn = cast(Callable[P, Awaitable[Any]], fn)

        @functools.wraps(fn)
        async def guarded_async(*args: P.args, **kwargs: P.kwargs) -> Any:
            arguments = bound_arguments(signature, args, kwargs)
            return await runner.run_guarded_async(
                call_name,
                agent,
                arguments,
                lambda: async_fn(*args, **kwargs),
                approval_timeout_seconds=wait,
            )

        return cast(Callable[P, R], guarded_async)

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        arguments = bound_arguments(signature, args, kwargs)
        return runner.run_guarded(
            call_name, agent, arguments, lambda: fn(*args, **kwargs), approval_timeout_seconds=wait
        )

    return guarded
