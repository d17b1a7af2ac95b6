"""Adapters from `PolicyEngine` to the CEL implementations that were measured.

Only `cel_cpp` is a runtime dependency of corral-sdk; `cel_rust` and `cel_python` import libraries
that are installed for differential testing and the benchmark.
"""
