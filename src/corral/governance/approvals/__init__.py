"""Human approvals: calls a `require_approval` policy holds until enough people approve them."""
