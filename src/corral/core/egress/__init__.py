"""Outgoing HTTP requests to addresses the caller does not control (tools, later webhooks)."""
