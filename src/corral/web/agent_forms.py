"""What the agent pages read from their forms: a manifest typed as JSON, a run's input, and the
mistakes in each, named by where they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from corral.agents.manifest import Manifest, prompt_problem
from corral.core.errors import CorralError

# What the create form starts from: every key an agent needs, ready to edit.
STARTER_MANIFEST: dict[str, Any] = {
    "name": "",
    "version": "0.1.0",
    "description": "",
    "model": {"provider": "openai", "name": "gpt-4o-mini"},
    "input_schema": {"type": "object", "properties": {"question": {"type": "string"}}},
    "output_schema": {"type": "object"},
    "tools": [],
    "timeout_seconds": 300,
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake: where (a path such as `model.name`, empty for the whole text) and what."""

    path: str
    message: str


@dataclass(slots=True)
class PackageForm:
    """A manifest and prompt as typed, with what is wrong in each."""

    manifest_text: str
    prompt: str
    manifest: Manifest | None = None
    manifest_problems: list[Problem] = field(default_factory=list)
    prompt_problem: str | None = None

    @property
    def valid(self) -> bool:
        return self.manifest is not None and self.prompt_problem is None


def pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _json_object(text: str, what: str) -> tuple[dict[str, Any] | None, Problem | None]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return None, Problem("", f"{what} is not valid JSON: {exc}")
    if not isinstance(value, dict):
        return None, Problem("", f"{what} must be a JSON object ({{…}})")
    return value, None


def _path(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location)


def validation_problems(exc: ValidationError) -> list[Problem]:
    return [
        Problem(_path(error["loc"]), str(error["msg"]).removeprefix("Value error, "))
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def read_package(manifest_text: str, prompt: str) -> PackageForm:
    """The typed manifest (JSON) checked by the manifest's own validators, and the prompt."""
    form = PackageForm(manifest_text=manifest_text, prompt=prompt)
    form.prompt_problem = prompt_problem(prompt)
    data, problem = _json_object(manifest_text, "the manifest")
    if problem is not None:
        form.manifest_problems.append(problem)
        return form
    try:
        form.manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        form.manifest_problems.extend(validation_problems(exc))
    return form


def read_input(text: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """A run's input as typed: a JSON object (empty text is `{}`)."""
    if not text.strip():
        return {}, []
    value, problem = _json_object(text, "the input")
    return value, [] if problem is None else [problem]


def refusal_problems(refusal: CorralError) -> list[Problem]:
    """A service's refusal as problems: each schema error by its path (`input/ticket`), else the
    refusal's own sentence."""
    errors = refusal.extra.get("errors")
    if isinstance(errors, list) and errors:
        return [
            Problem(str(error.get("field", "")), str(error.get("message", "")))
            for error in errors
            if isinstance(error, dict)
        ]
    return [Problem("", refusal.detail)]
