"""Benchmarks of Corral's hot paths; each script prints numbers a reader can compare."""
