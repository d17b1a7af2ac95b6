"""Connections: credentials for outside services, encrypted at rest, with the URIs they cover."""
