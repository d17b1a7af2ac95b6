"""Sandbox adapters behind one narrow interface (base.py)."""
