"""`corral approvals`: list held calls and approve or deny them, as a signed-in person.

Only people decide approvals, so these commands do not open the database as the other admin
commands do: they sign in to a running Corral over HTTP with a person's email and password
(`--url`, `--email`, the password from `--password-stdin`, `CORRAL_PASSWORD` or a prompt) and
call the same API as the dashboard. The server applies every rule: the person's role, no
self-approval, the expiry, the veto. Accounts with two-factor sign-in use the dashboard or API.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import httpx2
import typer

from corral.cli.runtime import fail

app = typer.Typer(
    help="List, approve and deny calls held for approval (signs in to a running Corral).",
    no_args_is_help=True,
)

DEFAULT_URL = "http://127.0.0.1:4318"
TIMEOUT_SECONDS = 30.0


class _Signed:
    def __init__(self) -> None:
        self.url = DEFAULT_URL
        self.email: str | None = None
        self.password_stdin = False
        self.application: str | None = None


_state = _Signed()

Url = Annotated[str, typer.Option("--url", envvar="CORRAL_URL", help="Corral's base URL.")]
Email = Annotated[
    str | None, typer.Option("--email", envvar="CORRAL_EMAIL", help="Sign in as this person.")
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]
AppOption = Annotated[
    str | None,
    typer.Option("--app", help="The application (`app_…`); the organization's default if unset."),
]


@app.callback()
def _options(
    url: Url = DEFAULT_URL,
    email: Email = None,
    password_stdin: PasswordStdin = False,
    application: AppOption = None,
) -> None:
    _state.url = url.rstrip("/")
    _state.email = email
    _state.password_stdin = password_stdin
    _state.application = application


def _password() -> str:
    if _state.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    from_env = os.environ.get("CORRAL_PASSWORD")
    if from_env:
        return from_env
    prompted: str = typer.prompt("Password", hide_input=True)
    return prompted


def _problem(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return f"{body.get('detail', response.status_code)} ({body.get('code', 'error')})"
    return f"HTTP {response.status_code}"


def _signed_in() -> httpx2.Client:
    if not _state.email:
        fail("name the person who decides: --email (or CORRAL_EMAIL)")
    client = httpx2.Client(base_url=_state.url, timeout=TIMEOUT_SECONDS, trust_env=False)
    try:
        response = client.post(
            "/api/auth/login", json={"email": _state.email, "password": _password()}
        )
    except httpx2.HTTPError as exc:
        client.close()
        fail(f"cannot reach Corral at {_state.url}: {type(exc).__name__}")
    if response.status_code != 200:
        client.close()
        fail(f"sign-in refused: {_problem(response)}")
    data = response.json()
    if "csrf_token" not in data:
        client.close()
        fail("this account signs in with a second factor: use the dashboard or the API")
    client.headers["X-CSRF-Token"] = data["csrf_token"]
    if _state.application:
        client.headers["Corral-Application"] = _state.application
    return client


def _call(method: str, path: str, **kwargs: Any) -> Any:
    client = _signed_in()
    try:
        response = client.request(method, path, **kwargs)
    except httpx2.HTTPError as exc:
        fail(f"cannot reach Corral at {_state.url}: {type(exc).__name__}")
    finally:
        client.close()
    if response.status_code >= 400:
        fail(_problem(response))
    return response.json()


def _line(approval: dict[str, Any]) -> str:
    who = approval.get("agent") or "-"
    votes = f"{approval['approvals']}/{approval['approvers_required']}"
    return (
        f"{approval['id']}  {approval['status']:<8}  {approval['tool_name']:<24}  {who:<16}  "
        f"{votes:<5}  expires {approval['expires_at']}"
    )


@app.command("list")
def list_approvals(
    status: Annotated[
        str, typer.Option(help="pending, approved, denied, expired, or all.")
    ] = "pending",
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON page.")] = False,
) -> None:
    """The application's approval requests, newest first."""
    params = {"any_status": "true"} if status == "all" else {"status": status}
    page = _call("GET", "/api/approvals", params=params)
    if as_json:
        typer.echo(json.dumps(page, indent=2))
        return
    if not page["data"]:
        typer.echo(f"No {status} approval requests.")
    for approval in page["data"]:
        typer.echo(_line(approval))


def _decide(approval_id: str, verdict: str, comment: str | None) -> None:
    answered = _call("POST", f"/api/approvals/{approval_id}/{verdict}", json={"comment": comment})
    typer.echo(_line(answered))


Comment = Annotated[str | None, typer.Option(help="Why; the agent reads a deny's comment.")]


@app.command()
def approve(approval_id: str, comment: Comment = None) -> None:
    """Approve a held call as the signed-in person."""
    _decide(approval_id, "approve", comment)


@app.command()
def deny(approval_id: str, comment: Comment = None) -> None:
    """Deny a held call as the signed-in person (one deny vetoes it)."""
    _decide(approval_id, "deny", comment)
