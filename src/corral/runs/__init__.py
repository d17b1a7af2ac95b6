"""Hosted agent runs: queue, execution, sandboxes, the sidecar, schedules."""
