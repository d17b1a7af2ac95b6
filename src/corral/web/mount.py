"""Puts the dashboard on the API's app: static assets and page routes."""

from __future__ import annotations

from fastapi import FastAPI

from corral.web.routes import (
    account,
    accounts,
    agent_editor,
    agents,
    api_keys,
    approvals,
    audit_log,
    budgets,
    connections,
    decisions,
    email_links,
    halts,
    members,
    onboarding,
    overview,
    policies,
    policy_drafts,
    policy_templates,
    policy_versions,
    providers,
    runs,
    schedules,
    settings,
    switcher,
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
        agents,
        agent_editor,
        runs,
        schedules,
        traces,
        # Fixed /policies/… paths before /policies/{policy_id}.
        policy_templates,
        policy_drafts,
        policies,
        policy_versions,
        decisions,
        approvals,
        halts,
        budgets,
        audit_log,
        webhooks,
        connections,
        providers,
        api_keys,
        members,
        onboarding,
        switcher,
        settings,
        account,
    ):
        app.include_router(module.router)
