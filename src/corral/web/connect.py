"""What "Connect an agent" shows: the scopes an agent's key needs, and copy-ready setup for
corral-sdk and for any OpenTelemetry exporter.

The scopes are what the SDK's requests need: the policy bundle and the active halts
(`policies:read`), approvals it asks for and long-polls (`decisions:write`), and its spans sent
to `/v1/traces` (`traces:write`, which an OTLP exporter needs alone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corral.identity.permissions import SCOPE_DESCRIPTIONS

AGENT_SCOPES: tuple[str, ...] = ("decisions:write", "policies:read", "traces:write")
# The path of api/routes/otlp.py; an exporter given the base endpoint appends it itself.
OTLP_TRACES_PATH = "/v1/traces"
KEY_PLACEHOLDER = "crl_…"
DEFAULT_AGENT = "my-agent"
# Agent names end up inside a Python string literal and a key's name: keep them plain.
AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class AgentSetup:
    """The snippets for one key (or the placeholder before there is one)."""

    python: str
    otlp_endpoint: str
    otlp_traces_url: str
    otlp_header: str
    otlp_env: str


def scope_rows(granted: frozenset[str]) -> list[tuple[str, str, bool]]:
    """(scope, what it is for, whether the viewer may grant it) for each scope an agent needs."""
    return [(s, SCOPE_DESCRIPTIONS[s], s in granted) for s in AGENT_SCOPES]


def agent_setup(public_url: str, api_key: str, agent: str) -> AgentSetup:
    endpoint = public_url.rstrip("/")
    python = f'''from corral_sdk import Client, PolicyBlocked

with Client("{api_key}", "{endpoint}", agent="{agent}") as corral:

    @corral.guard  # decided as "tool.shell" by your application's policies
    def shell(command: str) -> str:
        return f"ran {{command}}"

    try:
        print(shell("ls"))
    except PolicyBlocked as refused:
        print("refused by", refused.policy_name, ":", refused.message)
'''
    header = f"Authorization: Bearer {api_key}"
    env = (
        f'export OTEL_EXPORTER_OTLP_ENDPOINT="{endpoint}"\n'
        # W3C baggage format: the value percent-encoded (keys are URL-safe already).
        f'export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20{api_key}"\n'
        'export OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf"\n'
        f'export OTEL_SERVICE_NAME="{agent}"\n'
    )
    return AgentSetup(python, endpoint, endpoint + OTLP_TRACES_PATH, header, env)
