"""The sidecar under halts and budgets: a halted scope gets no model or tool call, and a call
that would take a budget past its limit is refused before it reaches the provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from corral.core.clock import utcnow
from corral.governance.budgets.models import Budget
from corral.governance.budgets.usage import usage_of
from corral.runs.sidecar.model_budgets import BudgetGate
from corral.runs.sidecar.model_errors import ModelGatewayError
from corral.runs.sidecar.model_gateway import ProviderModelGateway, build_http_client
from corral.runs.sidecar.model_routing import RunModelGateway
from tests.clients import ApiClient
from tests.runs.sidecar.test_model_gateway_app_providers import create_provider
from tests.runs.sidecar.test_tool_gateway_support import Harness, open_harness
from tests.runs.sidecar.test_tool_gateway_support import make_run as make_tool_run
from tests.support.openai_server import LLMServer, Reply, serve_llm
from tests.support.sidecar_runs import RecordingSink, make_run
from tests.traces.support import container_of

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
async def gateway(app: FastAPI) -> AsyncIterator[RunModelGateway]:
    container = container_of(app)
    async with build_http_client() as http:
        yield RunModelGateway(
            ProviderModelGateway(
                container.settings.system_provider_keys,
                container.sessions,
                container.keyring,
                container.price_catalog,
                http,
                price_overrides=container.ingest_config,
                budgets=BudgetGate(container.sessions, container.price_catalog),
            ),
            halts=container.halt_cache,
        )


def chat(max_tokens: int = 50) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": max_tokens,
    }


async def test_a_calls_budget_refuses_the_call_past_its_limit_before_the_provider(
    owner: ApiClient, gateway: RunModelGateway, server: LLMServer, app: FastAPI
) -> None:
    provider = await create_provider(owner, server.base_url, models=[MODEL])
    budget = await owner.post(
        "/api/budgets", json={"name": "two calls", "metric": "calls", "limit": "2"}
    )
    run = make_run(provider, MODEL, application_id=owner.app_id, org_id=owner.org_id)
    server.enqueue(*(Reply.of_text("ok") for _ in range(3)))
    sink = RecordingSink()
    for _ in range(2):
        await gateway.chat_completion(run, chat(), sink)
    with pytest.raises(ModelGatewayError) as refused:
        await gateway.chat_completion(run, chat(), sink)
    assert refused.value.status == 429
    assert refused.value.body["error"]["code"] == "budget_exceeded"
    assert len(server.requests) == 2
    async with container_of(app).sessions() as session:
        stored = await session.get(Budget, budget.json()["id"])
        assert stored is not None
        usage = await usage_of(session, stored, utcnow())
    assert usage.used == 2
    assert usage.reserved == 0


async def test_a_spend_budget_holds_the_estimate_and_settles_the_real_cost(
    owner: ApiClient, gateway: RunModelGateway, server: LLMServer, app: FastAPI
) -> None:
    provider = await create_provider(owner, server.base_url, models=[MODEL])
    budget = await owner.post("/api/budgets", json={"name": "spend", "limit": "0.0001"})
    run = make_run(provider, MODEL, application_id=owner.app_id, org_id=owner.org_id)
    server.enqueue(Reply.of_text("ok", input_tokens=10, output_tokens=10))
    sink = RecordingSink()
    # 50 output tokens fit; a call that may write 4096 does not.
    await gateway.chat_completion(run, chat(50), sink)
    with pytest.raises(ModelGatewayError) as refused:
        await gateway.chat_completion(run, chat(4096), sink)
    assert refused.value.body["error"]["code"] == "budget_exceeded"
    assert len(server.requests) == 1
    async with container_of(app).sessions() as session:
        stored = await session.get(Budget, budget.json()["id"])
        assert stored is not None
        usage = await usage_of(session, stored, utcnow())
    [first, _] = sink.of("model_call")
    assert usage.used == Decimal(str(first["cost_usd"]))
    assert usage.reserved == 0


async def test_a_halt_refuses_model_calls(
    owner: ApiClient, gateway: RunModelGateway, server: LLMServer
) -> None:
    provider = await create_provider(owner, server.base_url, models=[MODEL])
    run = make_run(provider, MODEL, application_id=owner.app_id, org_id=owner.org_id)
    created = await owner.post(
        "/api/halts", json={"scope": "model", "scope_value": MODEL, "reason": "bad model"}
    )
    assert created.status_code == 201
    sink = RecordingSink()
    with pytest.raises(ModelGatewayError) as refused:
        await gateway.chat_completion(run, chat(), sink)
    [logged] = sink.of("log")
    assert "halted" in logged["message"]
    assert refused.value.status == 409
    assert refused.value.body["error"]["code"] == "halted"
    chunks = gateway.stream_chat_completion(run, {**chat(), "stream": True}, RecordingSink())
    with pytest.raises(ModelGatewayError):
        await chunks.__anext__()
    assert server.requests == []


@pytest.fixture
async def tools(app: FastAPI) -> AsyncIterator[Harness]:
    async with open_harness(app) as harness:
        yield harness


async def test_a_halt_refuses_tool_calls_before_policies(owner: ApiClient, tools: Harness) -> None:
    run = make_tool_run(owner, [{"name": "lookup", "url": tools.server.url("/lookup")}])
    halted = await owner.post(
        "/api/halts", json={"scope": "agent", "scope_value": run.agent_name, "reason": "stop"}
    )
    assert halted.status_code == 201
    outcome = await tools.call(run, "lookup", {"q": "x"})
    assert outcome.status == "refused"
    assert outcome.result == {"code": "halted", "halt_id": halted.json()["id"]}
    assert tools.server.received == []
