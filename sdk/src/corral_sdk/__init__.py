"""Corral SDK: the client that agents running in their own process use to be governed by Corral.

```python
from corral_sdk import Client, PolicyBlocked

with Client(api_key, "http://127.0.0.1:4318", agent="ops-bot") as corral:

    @corral.guard
    def shell(command: str) -> str: ...
```

`corral_sdk.policy` is the policy engine the client (and the server) decide with.
"""

from corral_sdk.approvals import PendingApproval
from corral_sdk.client import Client
from corral_sdk.errors import (
    ApprovalDenied,
    ApprovalRequired,
    ApprovalTimeout,
    AuthenticationFailed,
    CorralError,
    Halted,
    PolicyBlocked,
    ServerUnreachable,
    Throttled,
)
from corral_sdk.model_call import ModelCall
from corral_sdk.policy import Decision
from corral_sdk.version import __version__

__all__ = [
    "ApprovalDenied",
    "ApprovalRequired",
    "ApprovalTimeout",
    "PendingApproval",
    "AuthenticationFailed",
    "Client",
    "CorralError",
    "Decision",
    "Halted",
    "ModelCall",
    "PolicyBlocked",
    "ServerUnreachable",
    "Throttled",
    "__version__",
]
