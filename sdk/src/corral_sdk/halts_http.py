"""Poll the application's active halts, revalidating with the ETag of the last answer."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from corral_sdk.errors import AuthenticationFailed, ServerUnreachable
from corral_sdk.halts import HaltRecord, parse_halts
from corral_sdk.version import __version__

HALTS_PATH = "/api/halts/active"


@dataclass(frozen=True, slots=True)
class FetchedHalts:
    """New halts, or None when unchanged (304)."""

    halts: tuple[HaltRecord, ...] | None
    revision: str | None


class HaltFetcher:
    """One keep-alive HTTP session to the active-halts endpoint. Not thread-safe: callers lock."""

    def __init__(self, api_key: str, endpoint: str, *, timeout_seconds: float) -> None:
        self.url = endpoint + HALTS_PATH
        self._timeout = timeout_seconds
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": f"corral-sdk/{__version__}",
            }
        )

    def fetch(self, revision: str | None) -> FetchedHalts:
        headers = {"If-None-Match": f'"{revision}"'} if revision else {}
        try:
            response = self._session.get(self.url, headers=headers, timeout=self._timeout)
        except requests.RequestException as error:
            raise ServerUnreachable(f"could not reach {self.url}: {type(error).__name__}") from None
        with response:
            status = response.status_code
            if status == 304:
                return FetchedHalts(None, revision)
            if status in (401, 403):
                raise AuthenticationFailed(
                    f"Corral refused the API key ({status}) for halts; it needs the scope "
                    "policies:read or halts:read"
                )
            if status != 200:
                raise ServerUnreachable(f"the halts request answered {status}")
            try:
                new_revision, halts = parse_halts(response.json())
            except ValueError as error:
                raise ServerUnreachable(f"the halts could not be read: {error}") from None
            return FetchedHalts(halts, new_revision)

    def close(self) -> None:
        self._session.close()
