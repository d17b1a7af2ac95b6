"""Telemetry: OTLP decoding, dialect normalization, cost, redaction and sampling.

Every module here is a pure function library (no I/O, no database, no HTTP) so that ingest can
run it off the event loop and tests can exercise it without a server. See `docs/telemetry.md`.
"""
