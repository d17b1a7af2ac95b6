"""Governance: policies, their versions, templates, analysis and simulation; the per-application
posture, bundles, decisions and their evidence."""
