"""`corral config`: the effective configuration, with every secret masked."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from pydantic import BaseModel, SecretStr

from corral.cli.runtime import MASK, hide_url_password, prepare, print_json

app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)

UNSET: Final = "(unset)"
# Whole sections and single fields that are secret whatever their type.
_SECRET_SECTIONS: Final = frozenset({"security"})
_SECRET_FIELDS: Final = frozenset({("smtp", "password"), ("auth", "dev_api_key")})
_URL_FIELDS: Final = frozenset({"database_url", "redis_url"})


def _is_secret_type(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return masked_tree(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def masked_tree(model: BaseModel, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """The settings as a JSON-ready tree in which no secret value survives."""
    tree: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        here = (*path, name)
        if isinstance(value, BaseModel):
            tree[name] = masked_tree(value, here)
        elif (
            isinstance(value, SecretStr)
            or _is_secret_type(field.annotation)
            or here[0] in _SECRET_SECTIONS
            or here in _SECRET_FIELDS
        ):
            tree[name] = UNSET if value is None else MASK
        elif name in _URL_FIELDS and isinstance(value, str):
            tree[name] = hide_url_password(value)
        else:
            tree[name] = _plain(value)
    return tree


def _render(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)


def _tree_lines(tree: dict[str, Any], indent: int = 0) -> list[str]:
    lines = []
    pad = "  " * indent
    for name, value in tree.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{name}:")
            lines.extend(_tree_lines(value, indent + 1))
        else:
            lines.append(f"{pad}{name}: {_render(value)}")
    return lines


@app.command()
def show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a tree.")] = False,
) -> None:
    """Print the effective configuration; secrets show only whether they are set."""
    settings = prepare()
    tree = masked_tree(settings)
    if as_json:
        print_json(tree)
    else:
        typer.echo("\n".join(_tree_lines(tree)))
