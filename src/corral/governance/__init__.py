"""Governance: policies and their versions, the per-application posture, bundles and decisions."""
