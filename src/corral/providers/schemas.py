"""Request and response bodies of the providers API. Keys go in, never out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from corral.core.schemas import RequestBody
from corral.core.settings import ProviderApi
from corral.providers.base_urls import check_base_url

MAX_MODELS = 100
ModelName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s\x00-\x1f]+$")]
Models = Annotated[
    list[ModelName],
    Field(min_length=1, max_length=MAX_MODELS, description="The model names it serves."),
]
ApiKey = Annotated[SecretStr, Field(min_length=1, max_length=8192)]
BaseUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="The API root, e.g. `https://api.openai.com/v1`: `/chat/completions` "
        "(or `/messages`) is appended.",
    ),
]


def _unique(models: list[str]) -> list[str]:
    return list(dict.fromkeys(models))


def _url(value: str | None) -> str | None:
    # The shape only; production's stricter rules are the service's, which knows the tier.
    return None if value is None else check_base_url(value, production=False)


class ProviderCreate(RequestBody):
    label: str = Field("", max_length=200)
    api: ProviderApi
    base_url: BaseUrl
    api_key: ApiKey
    models: Models

    _models = field_validator("models")(_unique)
    _base_url = field_validator("base_url")(_url)


class ProviderUpdate(RequestBody):
    label: str | None = Field(None, max_length=200)
    api: ProviderApi | None = None
    base_url: BaseUrl | None = None
    api_key: ApiKey | None = Field(None, description="Replaces the stored key.")
    models: Models | None = None

    _models = field_validator("models")(lambda value: None if value is None else _unique(value))
    _base_url = field_validator("base_url")(_url)


class ProviderRead(BaseModel):
    id: str
    source: Literal["system", "application"] = Field(
        description="`system` providers come from CORRAL_SYSTEM_PROVIDER_KEYS and are read-only."
    )
    label: str
    api: ProviderApi
    base_url: str
    models: list[str]
    key_hint: str | None = Field(
        None, description="The key's last four characters, when it is long enough to show them."
    )
    key_id: str | None = Field(
        None, description="The CORRAL_ENCRYPTION_KEYS key the API key is stored under."
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None
