"""Request and response bodies of the budgets API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from corral.core.schemas import RequestBody

BudgetMetric = Literal["spend_usd", "calls"]
BudgetWindow = Literal["1h", "1d", "7d", "30d", "month"]
WindowKind = Literal["fixed", "rolling"]
BudgetScope = Literal["application", "agent", "model", "end_user"]

_LIMIT = Field(
    gt=0,
    le=Decimal("1000000000"),
    max_digits=20,
    decimal_places=10,
    description="USD for `spend_usd` (a decimal string keeps every digit), model calls for "
    "`calls`.",
)
_THRESHOLD = Field(
    None,
    ge=1,
    le=100,
    description="Percent of the limit at which `budget.threshold_reached` is sent (once per "
    "window).",
)


class BudgetCreate(RequestBody):
    name: str = Field(min_length=1, max_length=100)
    metric: BudgetMetric = "spend_usd"
    limit: Decimal = _LIMIT
    window: BudgetWindow = "1d"
    window_kind: WindowKind = Field(
        "fixed",
        description="`fixed`: resets at each UTC boundary (hour, midnight, Monday, every 30 "
        "days from creation, the 1st of the month); `rolling`: the last `window`.",
    )
    scope: BudgetScope = "application"
    scope_value: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="The agent name, model, or end-user (id or external id); absent for "
        "`application`.",
    )
    threshold_percent: int | None = _THRESHOLD
    enabled: bool = True

    @model_validator(mode="after")
    def _value_matches_scope(self) -> BudgetCreate:
        if self.scope == "application" and self.scope_value is not None:
            raise ValueError("an application budget takes no scope_value")
        if self.scope != "application" and self.scope_value is None:
            raise ValueError(f"a {self.scope} budget needs a scope_value")
        if self.metric == "calls" and self.limit != self.limit.to_integral_value():
            raise ValueError("a calls budget's limit is a whole number")
        return self


class BudgetUpdate(RequestBody):
    """Scope, metric and window are fixed at creation: a budget measures one thing."""

    name: str | None = Field(None, min_length=1, max_length=100)
    limit: Decimal | None = Field(
        None, gt=0, le=Decimal("1000000000"), max_digits=20, decimal_places=10
    )
    threshold_percent: int | None = _THRESHOLD
    enabled: bool | None = None


class BudgetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    metric: BudgetMetric
    limit: Decimal
    window: BudgetWindow
    window_kind: WindowKind
    scope: BudgetScope
    scope_value: str
    end_user_external_id: str | None
    threshold_percent: int | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


class BudgetUsage(BaseModel):
    budget_id: str
    metric: BudgetMetric
    window_start: datetime
    window_end: datetime
    limit: Decimal
    used: Decimal = Field(description="Settled by hosted runs plus measured from spans.")
    reserved: Decimal = Field(description="Held by hosted model calls in flight.")
    remaining: Decimal = Field(description="limit - used - reserved, never below 0.")
    percent: float
    exceeded: bool


class BudgetForecast(BaseModel):
    budget_id: str
    metric: BudgetMetric
    lookback_seconds: int = Field(description="The recent period the burn rate is taken over.")
    burn_rate_per_hour: Decimal
    used: Decimal
    limit: Decimal
    window_end: datetime
    projected_window_end_usage: Decimal
    projected_exhaustion_at: datetime | None = Field(
        description="When the limit is reached at this rate; null if not before the window "
        "ends (or never)."
    )
    will_exceed: bool
