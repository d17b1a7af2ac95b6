"""Content-Encoding: gzip round trips, unknown codings are refused, bombs stop at the cap."""

from __future__ import annotations

import gzip
import zlib

import pytest

from corral.telemetry.compression import decompress
from corral.telemetry.errors import DecompressedTooLarge, MalformedPayload, UnsupportedEncoding

BODY = b"otlp payload " * 100


@pytest.mark.parametrize("encoding", [None, "", "identity", " Identity "])
def test_identity_passes_through(encoding: str | None) -> None:
    assert decompress(BODY, encoding, max_size=len(BODY)) is BODY


def test_identity_over_the_cap_is_refused() -> None:
    with pytest.raises(DecompressedTooLarge):
        decompress(BODY, None, max_size=len(BODY) - 1)


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "x-gzip"])
def test_gzip_round_trip(encoding: str) -> None:
    assert decompress(gzip.compress(BODY), encoding, max_size=len(BODY)) == BODY


def test_gzip_members_back_to_back_and_trailing_padding() -> None:
    body = gzip.compress(b"first ") + gzip.compress(b"second") + b"\x00\x00"
    assert decompress(body, "gzip", max_size=100) == b"first second"


@pytest.mark.parametrize("encoding", ["br", "deflate", "zstd", "gzip, br", "compress"])
def test_other_codings_are_refused(encoding: str) -> None:
    with pytest.raises(UnsupportedEncoding, match="not supported"):
        decompress(gzip.compress(BODY), encoding, max_size=1 << 20)


def test_zip_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(bytes(64 << 20), compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(DecompressedTooLarge, match="inflates beyond"):
        decompress(bomb, "gzip", max_size=1 << 20)


def test_second_member_cannot_slip_past_the_cap() -> None:
    body = gzip.compress(bytes(600)) + gzip.compress(bytes(600))
    assert len(decompress(body, "gzip", max_size=1200)) == 1200
    with pytest.raises(DecompressedTooLarge):
        decompress(body, "gzip", max_size=1199)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(gzip.compress(BODY, mtime=0)[:-12], "truncated", id="truncated"),
        pytest.param(b"not gzip at all", "corrupt", id="not-gzip"),
        pytest.param(gzip.compress(BODY, mtime=0) + b"garbage", "corrupt", id="trailing-garbage"),
        pytest.param(zlib.compress(BODY), "corrupt", id="zlib-not-gzip"),
    ],
)
def test_broken_gzip_is_malformed(body: bytes, message: str) -> None:
    with pytest.raises(MalformedPayload, match=message):
        decompress(body, "gzip", max_size=1 << 20)
