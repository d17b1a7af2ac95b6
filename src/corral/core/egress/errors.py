"""Why an outgoing request did not happen or did not finish; each reason has a stable code."""

from __future__ import annotations

from corral.core.errors import CorralError


class EgressError(CorralError):
    """The request failed: DNS, connection, timeout, an oversized response.

    Codes: `egress_dns_failed`, `egress_connect_failed`, `egress_timeout`,
    `egress_response_too_large`, `egress_failed`.
    """

    code = "egress_failed"
    title = "Outgoing request failed"


class EgressRefused(EgressError):
    """The request was refused before it was sent (or before a redirect was followed).

    Codes: `egress_url_invalid` (not http(s), credentials in the URL, no host),
    `egress_address_refused` (a private, loopback, link-local, metadata… address),
    `egress_too_many_redirects`, and the codes of the caller's own URL check
    (e.g. `uri_not_authorized`).
    """

    code = "egress_refused"
    title = "Outgoing request refused"
