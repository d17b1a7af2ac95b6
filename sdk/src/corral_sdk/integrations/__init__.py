"""Adapters that put Corral in front of the tools of agent frameworks.

Each adapter lives in its own module and imports its framework only when that module is imported,
so `corral-sdk` never requires LangChain or pydantic-ai:

- `corral_sdk.integrations.langchain`: `guard_tool` / `guard_tools` for LangChain tools (and so
  LangGraph's `ToolNode`); install `corral-sdk[langchain]`.
- `corral_sdk.integrations.pydantic_ai`: the `CorralGuard` capability for pydantic-ai agents;
  install `corral-sdk[pydantic-ai]`.
"""
