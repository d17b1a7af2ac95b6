from __future__ import annotations

import asyncio

from corral.runs.sandboxes.output_tail import OutputTail, pump


def test_keeps_only_the_newest_bytes() -> None:
    tail = OutputTail(8)
    tail.feed(b"0123456789")
    tail.feed(b"ab")
    assert tail.text() == "456789ab"


def test_a_zero_limit_keeps_nothing() -> None:
    tail = OutputTail(0)
    tail.feed(b"data")
    assert tail.text() == ""


def test_a_split_multibyte_character_is_replaced_not_fatal() -> None:
    tail = OutputTail(3)
    tail.feed("aé€".encode())
    assert tail.text().endswith("€")
    tail.feed(b"\xff")
    assert "\ufffd" in tail.text()


async def test_pump_reads_a_large_stream_to_its_end_keeping_the_tail() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"x" * 1_000_000 + b"END")
    reader.feed_eof()
    tail = OutputTail(16)

    await pump(reader, tail)

    assert tail.text() == "x" * 13 + "END"
