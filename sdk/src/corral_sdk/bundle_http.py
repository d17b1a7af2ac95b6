"""Download the policy bundle over HTTP, revalidating with the ETag of the last one."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from corral_sdk.bundle import Bundle, parse_bundle
from corral_sdk.errors import AuthenticationFailed, ServerUnreachable
from corral_sdk.version import __version__

BUNDLE_PATH = "/api/policies/bundle"


@dataclass(frozen=True, slots=True)
class Fetched:
    """The answer to one bundle request: a new bundle, or None when unchanged (304)."""

    bundle: Bundle | None
    revision: str | None


class BundleFetcher:
    """One keep-alive HTTP session to Corral's bundle endpoint. Not thread-safe: callers lock."""

    def __init__(self, api_key: str, endpoint: str, *, timeout_seconds: float) -> None:
        self.url = endpoint + BUNDLE_PATH
        self._timeout = timeout_seconds
        self._session = requests.Session()
        # The key lives in the session headers only; it is never formatted into a message.
        self._session.headers.update(
            {
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": f"corral-sdk/{__version__}",
            }
        )

    def fetch(self, revision: str | None) -> Fetched:
        """The bundle if it changed since `revision`; raises `ServerUnreachable` or
        `AuthenticationFailed`."""
        headers = {"If-None-Match": f'"{revision}"'} if revision else {}
        try:
            response = self._session.get(self.url, headers=headers, timeout=self._timeout)
        except requests.RequestException as error:
            # The exception names the URL and the failure, never the request headers.
            raise ServerUnreachable(f"could not reach {self.url}: {type(error).__name__}") from None
        with response:
            return self._read(response, revision)

    def _read(self, response: requests.Response, revision: str | None) -> Fetched:
        status = response.status_code
        if status == 304:
            return Fetched(None, revision)
        if status in (401, 403):
            raise AuthenticationFailed(
                f"Corral refused the API key ({status}); it needs the scope policies:read"
            )
        if status != 200:
            raise ServerUnreachable(f"the bundle request answered {status}")
        try:
            bundle = parse_bundle(response.json())
        except ValueError as error:
            # A proxy's HTML page or a truncated body: treat it as not having reached Corral.
            raise ServerUnreachable(f"the bundle could not be read: {error}") from None
        return Fetched(bundle, bundle.revision)

    def close(self) -> None:
        self._session.close()
