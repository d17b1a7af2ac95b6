"""Helpers for the onboarding tests: read the snippets out of the connect page."""

from __future__ import annotations

import ast
import html
import re
from typing import Any

import httpx2

KEY = re.compile(r"crl_[A-Za-z0-9_-]{20,}")


def shown(page: httpx2.Response, testid: str) -> str:
    """The text of the element with `data-testid`, as the browser shows it."""
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</code>', page.text, re.S)
    assert found is not None, page.text
    return html.unescape(found.group(1))


def client_call(snippet: str) -> tuple[list[Any], dict[str, Any]]:
    """The literal arguments of the snippet's `Client(...)`."""
    for node in ast.walk(ast.parse(snippet)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Client":
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
            return args, kwargs
    raise AssertionError(snippet)


def env_lines(block: str) -> dict[str, str]:
    """`export NAME="value"` lines as a mapping."""
    pairs = re.findall(r'^export ([A-Z_]+)="([^"]*)"$', block, re.M)
    return dict(pairs)
