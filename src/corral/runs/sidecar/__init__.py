"""The per-run gateway between the sandbox and the world."""
