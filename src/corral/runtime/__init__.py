"""Runs INSIDE the sandbox: the agent loop. Imports nothing else of corral."""
