"""Application providers in the gateway: the stored key is decrypted and used, tenants apart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from corral.runs.sidecar.model_errors import ModelGatewayError
from corral.runs.sidecar.model_gateway import ProviderModelGateway, build_http_client
from tests.clients import ApiClient
from tests.support.openai_server import LLMServer, Reply, serve_llm
from tests.support.sidecar_runs import RecordingSink, make_run
from tests.traces.support import container_of

APP_KEY = "sk-application-key-0123456789"
MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with serve_llm() as server:
        yield server


@pytest.fixture
def server(llm: LLMServer) -> Iterator[LLMServer]:
    llm.reset()
    yield llm
    llm.reset()


@pytest.fixture
async def gateway(app: FastAPI) -> AsyncIterator[ProviderModelGateway]:
    container = container_of(app)
    async with build_http_client() as http:
        yield ProviderModelGateway(
            container.settings.system_provider_keys,
            container.sessions,
            container.keyring,
            container.price_catalog,
            http,
            price_overrides=container.ingest_config,
        )


async def create_provider(client: ApiClient, base_url: str, **changes: Any) -> str:
    body = {
        "api": "openai-chat",
        "base_url": base_url,
        "api_key": APP_KEY,
        "models": [MODEL],
        **changes,
    }
    response = await client.post("/api/providers", json=body)
    assert response.status_code == 201, response.text
    provider_id: str = response.json()["id"]
    return provider_id


def chat() -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


async def test_an_application_provider_key_is_decrypted_and_sent(
    owner: ApiClient, gateway: ProviderModelGateway, server: LLMServer
) -> None:
    provider_id = await create_provider(owner, server.base_url)
    server.enqueue(Reply.of_text("from the app's provider", input_tokens=100, output_tokens=10))
    sink = RecordingSink()
    run = make_run(provider_id, MODEL, application_id=owner.app_id, org_id=owner.org_id)
    answer = await gateway.chat_completion(run, chat(), sink)
    assert answer["choices"][0]["message"]["content"] == "from the app's provider"
    assert server.requests[0].headers["authorization"] == f"Bearer {APP_KEY}"
    (event,) = sink.of("model_call")
    assert event["provider"] == provider_id
    # gpt-4o-mini is in the vendored catalog.
    assert event["cost_usd"] is not None
    assert event["cost_usd"] > 0


async def test_the_application_price_override_prices_the_call(
    owner: ApiClient, gateway: ProviderModelGateway, server: LLMServer
) -> None:
    provider_id = await create_provider(owner, server.base_url)
    override = await owner.put(f"/api/prices/{MODEL}", json={"input": "1000", "output": "0"})
    assert override.status_code == 200, override.text
    server.enqueue(Reply.of_text("x", input_tokens=1000, output_tokens=10))
    sink = RecordingSink()
    run = make_run(provider_id, MODEL, application_id=owner.app_id, org_id=owner.org_id)
    await gateway.chat_completion(run, chat(), sink)
    assert sink.of("model_call")[0]["cost_usd"] == pytest.approx(1.0)


async def test_another_application_cannot_use_the_provider(
    owner: ApiClient, stranger: ApiClient, gateway: ProviderModelGateway, server: LLMServer
) -> None:
    provider_id = await create_provider(owner, server.base_url)
    run = make_run(provider_id, MODEL, application_id=stranger.app_id, org_id=stranger.org_id)
    with pytest.raises(ModelGatewayError) as refused:
        await gateway.chat_completion(run, chat(), RecordingSink())
    assert refused.value.status == 404
    assert refused.value.body["error"]["code"] == "provider_not_found"
    assert server.requests == []


async def test_a_replaced_key_is_used_once_the_cached_provider_is_forgotten(
    owner: ApiClient, gateway: ProviderModelGateway, server: LLMServer
) -> None:
    provider_id = await create_provider(owner, server.base_url)
    run = make_run(provider_id, MODEL, application_id=owner.app_id, org_id=owner.org_id)
    await gateway.chat_completion(run, chat(), RecordingSink())
    changed = await owner.patch(f"/api/providers/{provider_id}", json={"api_key": "sk-new-key"})
    assert changed.status_code == 200, changed.text
    # Cached for a few seconds (no database read and decryption per model call) ...
    await gateway.chat_completion(run, chat(), RecordingSink())
    gateway.providers.forget(owner.app_id, provider_id)
    await gateway.chat_completion(run, chat(), RecordingSink())
    keys = [request.headers["authorization"] for request in server.requests]
    assert keys == [f"Bearer {APP_KEY}", f"Bearer {APP_KEY}", "Bearer sk-new-key"]
