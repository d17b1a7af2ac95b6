"""Provider answers are read within bounds; the usage of a passed-through stream is found."""

from __future__ import annotations

import httpx2
import pytest

from corral.runs.sidecar import provider_answers
from corral.runs.sidecar.model_errors import ModelGatewayError


async def test_a_line_longer_than_the_bound_fails_the_stream() -> None:
    long_line = b"data: " + b"x" * (provider_answers.MAX_SSE_LINE_BYTES + 1)
    response = httpx2.Response(200, content=b"data: {}\n" + long_line)
    with pytest.raises(ModelGatewayError) as failed:
        _ = [line async for line in provider_answers.sse_lines(response)]
    assert failed.value.body["error"]["code"] == "provider_bad_response"


async def test_lines_lose_their_carriage_returns() -> None:
    response = httpx2.Response(200, content=b"event: ping\r\ndata: {}\r\n\r\ndata: [DONE]")
    assert [line async for line in provider_answers.sse_lines(response)] == [
        b"event: ping",
        b"data: {}",
        b"",
        b"data: [DONE]",
    ]


@pytest.mark.parametrize("raw", [b"[1, 2]", b"not json", b""])
def test_an_answer_must_be_a_json_object(raw: bytes) -> None:
    with pytest.raises(ModelGatewayError) as failed:
        provider_answers.json_object(raw)
    assert failed.value.status == 502


def test_the_scanner_finds_usage_across_chunk_boundaries() -> None:
    scanner = provider_answers.UsageScanner()
    stream = (
        b'data: {"choices": [], "usage": null}\n\n'
        b'data: {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}\n\n'
        b"data: [DONE]\n\n"
    )
    for start in range(0, len(stream), 7):
        scanner.scan(stream[start : start + 7])
    assert scanner.usage == {"prompt_tokens": 5, "completion_tokens": 2}
    assert scanner.done
    assert scanner.error is None


def test_the_scanner_notices_an_error_chunk() -> None:
    scanner = provider_answers.UsageScanner()
    scanner.scan(b'data: {"error": {"message": "overloaded"}}\n\n')
    assert scanner.error == "overloaded"
    assert not scanner.done
