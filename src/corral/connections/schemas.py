"""Request and response bodies of the connections API. Credentials go in, never out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from corral.connections.uri_globs import check_glob
from corral.core.schemas import RequestBody, refuse_nul

MAX_AUTHORIZED_URIS = 50
_SECRET = Field(min_length=1, max_length=8192)
_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$"
_FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class _AuthBody(BaseModel):
    # A model-level NUL check: a field-level one (as in RequestBody) would also run on the
    # `type` discriminator, which pydantic refuses.
    model_config = ConfigDict(extra="forbid")

    _refuse_nul = model_validator(mode="before")(refuse_nul)


class HeaderAuth(_AuthBody):
    """The secret sent as a request header, e.g. `X-Api-Key`."""

    type: Literal["header"]
    name: str = Field(pattern=_HEADER_NAME)
    value: SecretStr = _SECRET

    @field_validator("name")
    @classmethod
    def _not_hop_by_hop(cls, value: str) -> str:
        if value.lower() in _FORBIDDEN_HEADERS:
            raise ValueError(f"{value} cannot carry a credential")
        return value


class QueryAuth(_AuthBody):
    """The secret sent as a query parameter, e.g. `?api_key=`."""

    type: Literal["query"]
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.~-]+$")
    value: SecretStr = _SECRET


class BearerAuth(_AuthBody):
    """`Authorization: Bearer <token>` (API tokens, OAuth access tokens)."""

    type: Literal["bearer"]
    token: SecretStr = _SECRET


class BasicAuth(_AuthBody):
    """`Authorization: Basic` with a username and password."""

    type: Literal["basic"]
    username: str = Field(min_length=1, max_length=200, pattern=r"^[^:\x00-\x1f]+$")
    password: SecretStr = _SECRET


AuthInput = Annotated[HeaderAuth | QueryAuth | BearerAuth | BasicAuth, Field(discriminator="type")]
AuthorizedUris = Annotated[
    list[str],
    Field(
        max_length=MAX_AUTHORIZED_URIS,
        description="URL globs the credentials may be sent to: `*` within a path segment, "
        "`**` across segments.",
    ),
]


def _check_globs(values: list[str]) -> list[str]:
    for index, glob in enumerate(values):
        try:
            check_glob(glob)
        except ValueError as exc:
            raise ValueError(f"authorized_uris[{index}] {exc}") from None
    return list(dict.fromkeys(values))


class ConnectionCreate(RequestBody):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = Field("", max_length=2000)
    auth: AuthInput
    authorized_uris: AuthorizedUris = Field(min_length=1)
    end_user_id: str | None = Field(
        None, max_length=40, description="The end-user who owns it; the application's if absent."
    )

    _globs = field_validator("authorized_uris")(_check_globs)


class ConnectionUpdate(RequestBody):
    description: str | None = Field(None, max_length=2000)
    auth: AuthInput | None = Field(None, description="Replaces the credentials whole.")
    authorized_uris: AuthorizedUris | None = Field(None, min_length=1)

    _globs = field_validator("authorized_uris")(
        lambda values: None if values is None else _check_globs(values)
    )


class AuthRead(BaseModel):
    """What kind of credential is stored, without any of it."""

    type: Literal["header", "query", "bearer", "basic"]
    name: str | None = Field(None, description="Header or query parameter name.")
    username: str | None = None


class ConnectionRead(BaseModel):
    id: str
    name: str
    description: str
    end_user_id: str | None
    auth: AuthRead
    authorized_uris: list[str]
    key_id: str = Field(description="The CORRAL_ENCRYPTION_KEYS key the credentials are under.")
    created_at: datetime
    updated_at: datetime
