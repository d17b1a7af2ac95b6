"""Which IP addresses an outgoing request may connect to.

Only globally routable unicast addresses, by default. IPv6 forms that carry an IPv4 address
(IPv4-mapped, NAT64, 6to4) are judged by the address they carry, so `::ffff:127.0.0.1` is
loopback. Cloud metadata endpoints, multicast and unspecified addresses are refused even when
private targets are allowed: no tool has a reason to reach them, and they are what an SSRF
attempt goes for.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Hetzner…
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS VPC DNS, reachable like metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::253",
        "fd20:ce::254",  # GCP metadata over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "168.63.129.16",  # Azure WireServer (a public address)
    )
)
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # CGNAT, RFC 6598
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _carried_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _always_refused(address: IPAddress) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    return None


def _non_public(address: IPAddress) -> str | None:
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address in _SHARED_ADDRESS_SPACE:
        return "a shared (CGNAT) address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a public address"
    return None


def refusal(
    address: IPAddress, *, allow_private: bool, allowed: Iterable[IPNetwork] = ()
) -> str | None:
    """Why `address` may not be connected to (e.g. "a loopback address"), or None."""
    carried = _carried_ipv4(address)
    if carried is not None:
        why = refusal(carried, allow_private=allow_private, allowed=allowed)
        return None if why is None else f"{why} (inside {address})"
    why = _always_refused(address)
    if why is not None:
        return why
    if allow_private or any(address in network for network in allowed):
        return None
    return _non_public(address)
