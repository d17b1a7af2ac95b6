"""Governance: policies, their templates, analysis and simulation, and decisions."""
