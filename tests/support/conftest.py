"""The shared LLM test server's fixtures, for the tests of the server itself."""

from __future__ import annotations

from tests.support.openai_server import _llm_server_process as _llm_server_process
from tests.support.openai_server import llm_server as llm_server
