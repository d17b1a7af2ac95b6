"""Stored traces: the tables, the ingest pipeline's write side and the query service."""
