"""Static assets: content-hashed URLs, year-long caching, and the vendored files' pins."""

from __future__ import annotations

import hashlib
import re

from corral.web.static import STATIC_DIR, VENDORED
from tests.clients import ApiClient


def test_vendored_files_match_their_recorded_hashes() -> None:
    assert VENDORED, "htmx is vendored"
    for vendored in VENDORED:
        content = (STATIC_DIR / vendored.path).read_bytes()
        assert hashlib.sha256(content).hexdigest() == vendored.sha256, vendored.path
        assert vendored.version in vendored.path
    readme = (STATIC_DIR / "vendor" / "README.md").read_text()
    for vendored in VENDORED:
        assert vendored.sha256 in readme


async def test_assets_are_cached_for_a_year_under_their_content_hash(client: ApiClient) -> None:
    page = (await client.get("/sign-in")).text
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert {url.rsplit("/", 1)[1] for url in urls} == {
        "favicon.svg",
        "app.css",
        "app.js",
        "htmx-2.0.11.min.js",
    }
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        digest = url.split("/")[2]
        assert asset.headers["etag"] == f'"{digest}"'
        assert hashlib.sha256(asset.content).hexdigest().startswith(digest)
        again = await client.get(url, headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304
    css = await client.get(next(url for url in urls if url.endswith(".css")))
    assert css.headers["content-type"].startswith("text/css")


async def test_an_old_hash_gets_the_current_file_without_long_caching(client: ApiClient) -> None:
    stale = await client.get("/static/0000000000000000/app.css")
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"
    assert (await client.get("/static/0000000000000000/nope.css")).status_code == 404
    assert (await client.get("/static/0000000000000000/..%2Fstatic.py")).status_code == 404
