"""`CORRAL_RUN_ADAPTER`: which sandbox runs the runs."""

from __future__ import annotations

import pydantic
import pytest

from corral.core.settings import Settings
from corral.runs.sandboxes.bubblewrap import BubblewrapAdapter
from corral.runs.sandboxes.docker import DockerAdapter
from corral.runs.sandboxes.process import ProcessAdapter
from corral.runs.sandboxes.selection import select_adapter


def test_each_adapter_is_selectable_by_name() -> None:
    assert isinstance(select_adapter("bubblewrap"), BubblewrapAdapter)
    assert isinstance(select_adapter("process"), ProcessAdapter)
    docker = select_adapter("docker", docker_image="corral/runtime:2")
    assert isinstance(docker, DockerAdapter)
    assert docker.image == "corral/runtime:2"


def test_the_fake_and_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown run adapter 'fake'"):
        select_adapter("fake")


def test_the_default_is_bubblewrap_where_it_works_else_process() -> None:
    chosen = select_adapter(None)
    if BubblewrapAdapter().available() is None:
        assert isinstance(chosen, BubblewrapAdapter)
    else:
        assert isinstance(chosen, ProcessAdapter)
        assert chosen.isolated is False


def test_the_settings_read_the_adapter_and_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_RUN_ADAPTER", "docker")
    monkeypatch.setenv("CORRAL_DOCKER_IMAGE", "corral/runtime:3")
    settings = Settings()
    assert settings.sandbox.run_adapter == "docker"
    assert settings.sandbox.docker_image == "corral/runtime:3"


def test_the_settings_refuse_the_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_RUN_ADAPTER", "fake")
    with pytest.raises(pydantic.ValidationError):
        Settings()


def test_unset_means_automatic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRAL_RUN_ADAPTER", raising=False)
    assert Settings().sandbox.run_adapter is None
