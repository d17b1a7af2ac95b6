"""Puts the dashboard on the API's app: static assets and page routes."""

from __future__ import annotations

from fastapi import FastAPI

from corral.web.routes import (
    accounts,
    api_keys,
    approvals,
    audit_log,
    budgets,
    connections,
    email_links,
    halts,
    members,
    overview,
    providers,
    runs,
    traces,
    webhooks,
)
from corral.web.static import StaticAssets, load_assets, static_router
from corral.web.templating import Pages, build_environment


def install(app: FastAPI) -> None:
    assets = StaticAssets(load_assets())
    app.state.pages = Pages(build_environment(assets))
    app.include_router(static_router(assets))
    for module in (
        accounts,
        overview,
        email_links,
        runs,
        traces,
        approvals,
        halts,
        budgets,
        audit_log,
        webhooks,
        connections,
        providers,
        api_keys,
        members,
    ):
        app.include_router(module.router)
