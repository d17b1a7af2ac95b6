"""CORRAL_SYSTEM_PROVIDER_KEYS: strict JSON, unique ids, and the keys never echoed back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import typer

from corral.cli.runtime import load_settings
from corral.core.settings import Settings, get_settings
from tests.cli.support import cli

KEY = "sk-system-never-shown-1234"


def provider(**changes: Any) -> dict[str, Any]:
    return {
        "id": "openai",
        "label": "OpenAI",
        "api": "openai-chat",
        "base_url": "https://api.openai.example/v1/",
        "api_key": KEY,
        "models": ["gpt-4o-mini", "gpt-4o"],
        **changes,
    }


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CORRAL_") and not name.startswith("CORRAL_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()


def refusal(monkeypatch: pytest.MonkeyPatch, value: str, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setenv("CORRAL_SYSTEM_PROVIDER_KEYS", value)
    get_settings.cache_clear()
    with pytest.raises(typer.Exit):
        load_settings()
    get_settings.cache_clear()
    output = capsys.readouterr()
    assert KEY not in output.out + output.err
    return output.err


def test_the_variable_is_read_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    second = provider(id="claude", api="anthropic-messages", models=["claude-sonnet-4-5"])
    monkeypatch.setenv("CORRAL_SYSTEM_PROVIDER_KEYS", json.dumps([provider(), second]))
    settings = Settings()
    first, other = settings.system_provider_keys
    assert (first.id, first.api, first.base_url) == (
        "openai",
        "openai-chat",
        "https://api.openai.example/v1",
    )
    assert first.models == ("gpt-4o-mini", "gpt-4o")
    assert first.api_key.get_secret_value() == KEY
    assert KEY not in repr(settings)
    assert other.api == "anthropic-messages"


def test_unset_means_no_system_provider() -> None:
    assert Settings().system_provider_keys == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (json.dumps([provider(organisation="x")]), "CORRAL_SYSTEM_PROVIDER_KEYS_0_ORGANISATION"),
        (json.dumps([provider(), provider()]), "provider ids must be unique: openai"),
        (json.dumps([provider(api="openai-responses")]), "CORRAL_SYSTEM_PROVIDER_KEYS_0_API"),
        (json.dumps([provider(models=[])]), "CORRAL_SYSTEM_PROVIDER_KEYS_0_MODELS"),
        (json.dumps([provider(id="scripted")]), "'scripted' is reserved"),
        (json.dumps([provider(base_url="ftp://x")]), "CORRAL_SYSTEM_PROVIDER_KEYS_0_BASE_URL"),
        (json.dumps([{k: v for k, v in provider().items() if k != "id"}]), "_0_ID"),
        ('[{"id": "x", "api_key": "' + KEY + '"', "not valid JSON"),
        (json.dumps({"id": "openai"}), "CORRAL_SYSTEM_PROVIDER_KEYS"),
    ],
)
def test_a_bad_value_refuses_to_boot_naming_the_problem(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str, expected: str
) -> None:
    assert expected in refusal(monkeypatch, value, capsys)


def test_config_show_masks_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_SYSTEM_PROVIDER_KEYS", json.dumps([provider()]))
    result = cli("config show --json")
    assert KEY not in result.stdout
    shown = json.loads(result.stdout)["system_provider_keys"]
    assert shown == [
        {
            "id": "openai",
            "label": "OpenAI",
            "api": "openai-chat",
            "base_url": "https://api.openai.example/v1",
            "api_key": "********",
            "models": ["gpt-4o-mini", "gpt-4o"],
        }
    ]
