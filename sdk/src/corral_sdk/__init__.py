"""Corral SDK: the client that agents running in their own process use to be governed by Corral.

The policy engine and the client land with the governance work; this distribution already ships so
that the server can depend on it and the two can never drift apart.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
