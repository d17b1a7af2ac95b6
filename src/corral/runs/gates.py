"""Preflight gates a run passes before it is queued: limits, rates and concurrency.

Each refusal has a stable code and the HTTP status that fits it: 429 for rates and concurrency,
413 for oversized inline packages, 422 for what the package asks beyond a ceiling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from corral.agents.manifest import Manifest, prompt_problem
from corral.core.errors import InvalidInput, PayloadTooLarge, RateLimited
from corral.core.ratelimit import RateLimiter
from corral.core.run_limits import InlineRunLimits, PlatformRunLimits
from corral.runs.models import ACTIVE_STATUSES, Run
from corral.runs.schemas import InlineAgent

_PLACEHOLDER = re.compile(r"\{[^}]*\}")


@dataclass(frozen=True, slots=True)
class RunGates:
    platform: PlatformRunLimits
    inline: InlineRunLimits
    # Token buckets of one token per run, per organization (all runs / inline runs).
    org_rate: RateLimiter
    inline_rate: RateLimiter


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    memory_mb: int
    cpu_seconds: int
    max_processes: int

    def as_json(self) -> dict[str, Any]:
        return {
            "memory_mb": self.memory_mb,
            "cpu_seconds": self.cpu_seconds,
            "max_processes": self.max_processes,
        }


def _field_problems(exc: ValidationError, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join([prefix, *(str(part) for part in error["loc"])]),
            "message": error["msg"],
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]


def check_inline(limits: InlineRunLimits, inline: InlineAgent) -> Manifest:
    """The inline package's manifest, checked against the inline limits, or a refusal."""
    manifest_bytes = len(orjson.dumps(inline.manifest))
    if manifest_bytes > limits.manifest_bytes:
        raise PayloadTooLarge(
            f"the inline manifest is {manifest_bytes} bytes; the limit is {limits.manifest_bytes}",
            code="inline_manifest_too_large",
        )
    prompt_bytes = len(inline.prompt.encode())
    if prompt_bytes > limits.prompt_bytes:
        raise PayloadTooLarge(
            f"the inline prompt is {prompt_bytes} bytes; the limit is {limits.prompt_bytes}",
            code="inline_prompt_too_large",
        )
    problem = prompt_problem(inline.prompt)
    if problem is not None:
        raise InvalidInput(problem, code="invalid_prompt", extra={"field": "inline.prompt"})
    try:
        manifest = Manifest.model_validate(inline.manifest)
    except ValidationError as exc:
        problems = _field_problems(exc, "inline.manifest")
        raise InvalidInput(
            f"the inline manifest is not valid: {problems[0]['field']}: {problems[0]['message']}",
            code="invalid_manifest",
            extra={"errors": problems},
        ) from None
    if len(manifest.skills) > limits.max_skills:
        raise InvalidInput(
            f"an inline agent has at most {limits.max_skills} skills",
            code="inline_too_many_skills",
        )
    if len(manifest.tools) > limits.max_tools:
        raise InvalidInput(
            f"an inline agent has at most {limits.max_tools} tools", code="inline_too_many_tools"
        )
    _check_inline_uris(limits, manifest)
    return manifest


def _check_inline_uris(limits: InlineRunLimits, manifest: Manifest) -> None:
    """An inline agent's tool URLs are the URIs it may reach: bounded, and wildcards only when
    allowed (a placeholder in the scheme or host lets the model choose where the call goes)."""
    urls = [tool.url for tool in manifest.tools if tool.url is not None]
    if len(urls) > limits.max_authorized_uris:
        raise InvalidInput(
            f"an inline agent may reach at most {limits.max_authorized_uris} URIs",
            code="inline_too_many_uris",
        )
    if limits.wildcard_uri_allowed:
        return
    for index, url in enumerate(urls):
        origin = urlsplit(_PLACEHOLDER.sub("x", url))
        bare = urlsplit(url)
        if "*" in url or origin.netloc != bare.netloc:
            raise InvalidInput(
                f"inline tool URL {url!r} leaves its host open; "
                "wildcard URIs are not allowed for inline runs",
                code="inline_wildcard_uri",
                extra={"field": f"inline.manifest.tools.{index}.url"},
            )


def sandbox_limits(limits: PlatformRunLimits, manifest: Manifest) -> tuple[int, SandboxLimits]:
    """The run's timeout and sandbox limits: what the manifest asks, within the ceilings."""
    if manifest.timeout_seconds > limits.timeout_ceiling_seconds:
        raise InvalidInput(
            f"timeout_seconds {manifest.timeout_seconds} is above the platform ceiling "
            f"of {limits.timeout_ceiling_seconds}",
            code="timeout_over_ceiling",
            extra={"field": "manifest.timeout_seconds"},
        )
    wanted = manifest.resources
    memory = wanted.memory_mb or min(limits.default_memory_mb, limits.memory_mb_ceiling)
    # The wall-clock timeout already ends a run; the CPU limit only stops a runaway burning
    # cores, so it defaults to the ceiling (and every default run fits a warm sandbox).
    cpu = wanted.cpu_seconds or limits.cpu_seconds_ceiling
    processes = wanted.max_processes or min(
        limits.default_max_processes, limits.max_processes_ceiling
    )
    for name, value, ceiling in (
        ("memory_mb", memory, limits.memory_mb_ceiling),
        ("cpu_seconds", cpu, limits.cpu_seconds_ceiling),
        ("max_processes", processes, limits.max_processes_ceiling),
    ):
        if value > ceiling:
            raise InvalidInput(
                f"resources.{name} {value} is above the platform ceiling of {ceiling}",
                code="resources_over_ceiling",
                extra={"field": f"manifest.resources.{name}"},
            )
    return manifest.timeout_seconds, SandboxLimits(memory, cpu, processes)


async def check_concurrency(session: AsyncSession, org_id: str, limits: PlatformRunLimits) -> None:
    """Refuse a run when the organization already has its maximum queued or running."""
    if session.get_bind().dialect.name == "postgresql":
        # Serializes run creation per organization, so two requests cannot both see room.
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"runs:{org_id}"}
        )
    active = await session.scalar(
        select(func.count())
        .select_from(Run)
        .where(Run.org_id == org_id, Run.status.in_(ACTIVE_STATUSES))
    )
    if (active or 0) >= limits.max_concurrent_per_org:
        raise RateLimited(
            f"the organization has {active} runs queued or running; "
            f"the limit is {limits.max_concurrent_per_org}",
            retry_after_seconds=5.0,
            code="org_concurrency_exceeded",
        )


async def take_rate(limiter: RateLimiter, identity: str, *, code: str, what: str) -> None:
    decision = await limiter.hit(identity)
    if not decision.allowed:
        raise RateLimited(
            f"too many {what}: at most {decision.limit} per minute",
            retry_after_seconds=max(decision.retry_after_seconds, 0.001),
            code=code,
        )
