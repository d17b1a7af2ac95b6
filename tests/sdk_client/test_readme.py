"""The client snippet of sdk/README.md runs as written against a real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.sdk_client.conftest import Corral

README = Path(__file__).resolve().parents[2] / "sdk" / "README.md"


def test_the_readme_client_snippet_runs(corral: Corral, capsys: pytest.CaptureFixture[str]) -> None:
    section = README.read_text().split("## Client", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    source = match.group(1).replace('"crl_…"', repr(corral.key))
    source = source.replace('"http://127.0.0.1:4318"', repr(corral.base_url))
    corral.create_policy(
        name="no email",
        action="steer",
        applies_to=["tool.send_email"],
        action_config={"replacement": "emails are disabled"},
    )
    exec(compile(source, str(README), "exec"), {})  # noqa: S102 - the documented snippet
    printed = capsys.readouterr().out
    assert "ran ls" in printed
    assert "emails are disabled" in printed
