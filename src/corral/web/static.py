"""Static assets, addressed by content hash so browsers may keep them for a year.

`/static/<digest>/<path>`: a new file content gives a new URL, so a page never mixes an old
stylesheet with new markup. Assets are read once at start (they are a few kilobytes).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request, Response

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PREFIX = "/static"
_DIGEST_CHARS = 16
_IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class VendoredFile:
    """A third-party file copied into the repository, pinned by version and content."""

    path: str
    package: str
    version: str
    sha256: str
    source: str


# Changing a vendored file means changing its record here too (tests check the hash).
VENDORED: tuple[VendoredFile, ...] = (
    VendoredFile(
        path="vendor/htmx-2.0.11.min.js",
        package="htmx.org",
        version="2.0.11",
        sha256="d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
        source="npm htmx.org@2.0.11, dist/htmx.min.js",
    ),
)


@dataclass(frozen=True, slots=True)
class Asset:
    content: bytes
    digest: str
    media_type: str

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


def _media_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    kind = guessed or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") or kind.endswith("script") else kind


def load_assets(directory: Path = STATIC_DIR) -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    for file in sorted(directory.rglob("*")):
        if not file.is_file() or file.suffix not in {".css", ".js", ".svg", ".png", ".ico"}:
            continue
        content = file.read_bytes()
        digest = hashlib.sha256(content).hexdigest()[:_DIGEST_CHARS]
        assets[file.relative_to(directory).as_posix()] = Asset(content, digest, _media_type(file))
    return assets


class StaticAssets:
    """The asset table and the URLs templates link to."""

    def __init__(self, assets: dict[str, Asset]) -> None:
        self._assets = assets

    def url(self, path: str) -> str:
        """The cache-forever URL of an asset; a missing asset is a bug in a template."""
        return f"{STATIC_PREFIX}/{self._assets[path].digest}/{path}"

    def response(self, request: Request, digest: str, path: str) -> Response:
        asset = self._assets.get(path)
        if asset is None:
            return Response(status_code=404, media_type="text/plain", content="not found")
        if digest != asset.digest:
            # A page from before a deploy asks for an older version: serve the current one,
            # but not under the old URL for a year.
            headers = {"Cache-Control": "no-cache", "ETag": asset.etag}
        else:
            headers = {"Cache-Control": _IMMUTABLE, "ETag": asset.etag}
        headers["X-Content-Type-Options"] = "nosniff"
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.content, media_type=asset.media_type, headers=headers)


def static_router(assets: StaticAssets) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(STATIC_PREFIX + "/{digest}/{path:path}")
    async def static_file(request: Request, digest: str, path: str) -> Response:
        return assets.response(request, digest, path)

    return router
