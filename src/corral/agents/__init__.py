"""Agent packages: manifests and prompts, a draft working copy, and published versions."""
