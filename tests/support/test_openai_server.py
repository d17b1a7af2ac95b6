"""The LLM test server speaks OpenAI's API well enough for OpenAI's own client."""

from __future__ import annotations

import openai
import pytest

from tests.support.openai_server import LLMServer, Reply


async def test_the_openai_client_reads_replies_and_streams(llm_server: LLMServer) -> None:
    llm_server.enqueue(
        Reply.of_tool_calls([("lookup", {"q": "x"})]), Reply.of_text("streamed words here")
    )
    async with openai.AsyncOpenAI(base_url=llm_server.base_url, api_key="sk-test") as client:
        completion = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        calls = completion.choices[0].message.tool_calls
        assert calls is not None
        assert calls[0].type == "function"
        assert calls[0].function.name == "lookup"
        assert completion.usage is not None
        stream = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text = ""
        usage = None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            usage = chunk.usage or usage
        # After the script: the default reply.
        again = await client.chat.completions.create(model="m", messages=[])
    assert text == "streamed words here"
    assert usage is not None
    assert usage.completion_tokens == 7
    assert again.choices[0].message.content == "ok"
    assert [r.headers["authorization"] for r in llm_server.requests] == ["Bearer sk-test"] * 3


async def test_errors_are_answered_with_their_status(llm_server: LLMServer) -> None:
    llm_server.enqueue(Reply.of_error(429))
    async with openai.AsyncOpenAI(
        base_url=llm_server.base_url, api_key="k", max_retries=0
    ) as client:
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(model="m", messages=[])
    assert refused.value.status_code == 429
