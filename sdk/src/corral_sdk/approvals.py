"""Asking Corral's people to approve a call a `require_approval` policy holds, and waiting.

The request goes to `POST /api/approvals`, where the server decides the call again with the
application's policies (it refuses to hold a call no policy holds). The client then long-polls
`GET /api/approvals/{id}?wait=…`, which answers as soon as someone decides or the request
expires, so the agent learns the answer within a round trip, not a polling interval.

Outcomes: approved → the call runs; denied → `ApprovalDenied` with the approver's comment;
expired or the client's own wait ran out → the policy's `on_timeout`: `deny` (the default)
raises `ApprovalTimeout`, `allow` lets the call run. A request that cannot be made (Corral
unreachable, refused, or no policy there holds the call) raises `ApprovalRequired`: the call
never runs without an approval.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from corral_sdk.call import ProposedCall
from corral_sdk.errors import ApprovalDenied, ApprovalRequired, ApprovalTimeout
from corral_sdk.policy import Decision
from corral_sdk.version import __version__

APPROVALS_PATH = "/api/approvals"
# The server answers a long-poll after at most 60 s; ask for a little less.
LONG_POLL_SECONDS = 50.0
MAX_POLL_FAILURES = 3
ARGS_ATTRIBUTE = "corral.tool.args"


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """An approval request just created, for `Client(on_approval_requested=…)`."""

    id: str
    tool: str
    approvers_required: int
    expires_at: str
    policy_name: str | None


class ApprovalRequester:
    """Asks for approvals and waits for them. Thread-safe: each held call has its own HTTP
    session (a call waits for people, so a new connection per call costs nothing that matters).
    """

    def __init__(
        self,
        api_key: str,
        endpoint: str,
        *,
        timeout_seconds: float,
        on_requested: Callable[[PendingApproval], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = endpoint + APPROVALS_PATH
        self._timeout = timeout_seconds
        self._on_requested = on_requested
        self._clock = clock
        # The key lives in these headers only; it is never formatted into a message.
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": f"corral-sdk/{__version__}",
        }

    def close(self) -> None:
        """Nothing is held between calls; kept for the client's lifecycle."""

    def obtain(
        self,
        call: ProposedCall,
        decision: Decision,
        decision_id: str | None,
        *,
        wait_seconds: float | None,
    ) -> None:
        """Return once the call may run; raise when it may not."""
        with requests.Session() as session:
            session.headers.update(self._headers)
            self._obtain(session, call, decision, decision_id, wait_seconds)

    def _obtain(
        self,
        session: requests.Session,
        call: ProposedCall,
        decision: Decision,
        decision_id: str | None,
        wait_seconds: float | None,
    ) -> None:
        approval = self._request(session, call, decision, decision_id)
        approval_id = str(approval["id"])
        if self._on_requested is not None:
            self._on_requested(
                PendingApproval(
                    id=approval_id,
                    tool=str(approval.get("tool_name", call.tool_name)),
                    approvers_required=int(approval.get("approvers_required", 1)),
                    expires_at=str(approval.get("expires_at", "")),
                    policy_name=approval.get("policy_name"),
                )
            )
        answered = self._wait(session, approval, wait_seconds, decision, decision_id)
        if answered.get("status") == "pending":
            # Our own wait ran out first: end the request, so nobody approves a call that will
            # never run. An approval that won the race comes back in the answer.
            answered = self._withdraw(session, answered)
        status = answered.get("status")
        if status == "approved":
            return
        if status == "denied":
            raise ApprovalDenied(
                _denial(answered),
                decision=decision,
                decision_id=decision_id,
                approval_id=approval_id,
            )
        if answered.get("on_timeout") == "allow":
            return
        raise ApprovalTimeout(
            "nobody approved this call in time"
            if status == "expired"
            else "stopped waiting for an approval of this call",
            decision=decision,
            decision_id=decision_id,
            approval_id=approval_id,
        )

    def _request(
        self,
        session: requests.Session,
        call: ProposedCall,
        decision: Decision,
        decision_id: str | None,
    ) -> dict[str, Any]:
        attributes = dict(call.attributes)
        # The arguments as policies saw them (any object already turned into its text).
        args = json.loads(attributes.pop(ARGS_ATTRIBUTE, "{}"))
        body: dict[str, Any] = {
            "name": call.name,
            "arguments": args if isinstance(args, dict) else {"args": args},
            "attributes": attributes,
            "agent": call.agent,
            "end_user": call.end_user,
            "decision_id": decision_id,
        }
        try:
            response = session.post(self.url, json=body, timeout=self._timeout)
        except (requests.RequestException, TypeError, ValueError) as error:
            raise ApprovalRequired(
                f"could not ask Corral for an approval ({type(error).__name__}); "
                "the call was not made",
                decision=decision,
                decision_id=decision_id,
            ) from None
        with response:
            if response.status_code != 201:
                raise ApprovalRequired(
                    f"Corral did not hold the call for approval ({response.status_code}: "
                    f"{_problem_code(response)}); the call was not made",
                    decision=decision,
                    decision_id=decision_id,
                )
            created: dict[str, Any] = response.json()
            return created

    def _wait(
        self,
        session: requests.Session,
        approval: dict[str, Any],
        wait_seconds: float | None,
        decision: Decision,
        decision_id: str | None,
    ) -> dict[str, Any]:
        deadline = None if wait_seconds is None else self._clock() + wait_seconds
        url = f"{self.url}/{approval['id']}"
        current = approval
        failures = 0
        while current.get("status") == "pending":
            remaining = LONG_POLL_SECONDS if deadline is None else deadline - self._clock()
            if remaining <= 0:
                return current
            wait = min(remaining, LONG_POLL_SECONDS)
            try:
                response = session.get(
                    url, params={"wait": f"{wait:.3f}"}, timeout=self._timeout + wait
                )
            except requests.RequestException as error:
                # A dropped long-poll is retried; the request stands on the server meanwhile.
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise ApprovalRequired(
                        f"lost Corral while waiting for the approval request {approval['id']} "
                        f"({type(error).__name__}); the call was not made",
                        decision=decision,
                        decision_id=decision_id,
                    ) from None
                continue
            failures = 0
            with response:
                if response.status_code != 200:
                    raise ApprovalRequired(
                        f"Corral answered {response.status_code} about the approval request "
                        f"{approval['id']}; the call was not made",
                        decision=decision,
                        decision_id=decision_id,
                    )
                current = response.json()
        return current

    def _withdraw(self, session: requests.Session, pending: dict[str, Any]) -> dict[str, Any]:
        """Withdraw a request we stopped waiting for; how it ended. Best effort: if Corral
        cannot be told, the request expires on its own and the call is not made anyway."""
        try:
            response = session.post(f"{self.url}/{pending['id']}/withdraw", timeout=self._timeout)
        except requests.RequestException:
            return _withdrawn(pending)
        with response:
            if response.status_code != 200:
                return _withdrawn(pending)
            answered: dict[str, Any] = response.json()
            return answered


def _withdrawn(approval: dict[str, Any]) -> dict[str, Any]:
    return {**approval, "status": "expired"}


def _denial(approval: dict[str, Any]) -> str:
    for answer in approval.get("decisions", []):
        if answer.get("verdict") == "deny":
            comment = answer.get("comment")
            said = f": {comment}" if comment else ""
            return f"{answer.get('user_email', 'an approver')} denied this call{said}"
    return "an approver denied this call"


def _problem_code(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "no details"
    return str(body.get("code", "no details")) if isinstance(body, dict) else "no details"
