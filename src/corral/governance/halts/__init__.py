"""Halts: the kill switch of an application, an agent, an end-user, a model or one run."""
