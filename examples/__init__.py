"""Runnable examples of Corral; each folder has a README with the commands."""
