"""What a model call may cost, before it is made: the amount a reservation holds.

Prompt tokens are estimated from the request's size (about 4 characters a token, rounded up,
over the messages and tool definitions); output tokens are the request's `max_tokens` (or
`max_completion_tokens`), else `DEFAULT_MAX_OUTPUT_TOKENS`. Priced with the same catalog and
overrides that price the call afterwards. An unpriced model holds nothing for spend budgets
(its calls still count for call budgets, and are refused once a budget is used up).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from corral.telemetry.cost import Cost, ModelPrice, PriceCatalog, compute_cost

CHARS_PER_TOKEN = 4
DEFAULT_MAX_OUTPUT_TOKENS = 4096
MAX_OUTPUT_TOKENS_CAP = 200_000


def estimated_tokens(body: Mapping[str, Any]) -> tuple[int, int]:
    size = len(orjson.dumps(body.get("messages") or [])) + len(
        orjson.dumps(body.get("tools") or [])
    )
    prompt = -(-size // CHARS_PER_TOKEN)
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    output = asked if isinstance(asked, int) and asked > 0 else DEFAULT_MAX_OUTPUT_TOKENS
    return prompt, min(output, MAX_OUTPUT_TOKENS_CAP)


def estimate_usd(
    model: str,
    body: Mapping[str, Any],
    catalog: PriceCatalog,
    overrides: Mapping[str, ModelPrice] | None,
) -> Decimal:
    prompt, output = estimated_tokens(body)
    cost = compute_cost(
        model, input_tokens=prompt, output_tokens=output, catalog=catalog, overrides=overrides
    )
    return cost.total_usd if isinstance(cost, Cost) else Decimal(0)
