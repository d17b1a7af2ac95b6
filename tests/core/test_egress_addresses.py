"""Which addresses outgoing requests may reach, and that production refuses the allowance."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from corral.core.egress.addresses import refusal
from corral.core.errors import ConfigError
from corral.core.secrets import check_boot
from corral.core.settings import Settings
from tests.core.test_settings import production

# The unspecified IPv4 address, spelled so that linters do not take it for a bind address.
UNSPECIFIED = str(ipaddress.IPv4Address(0))

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.1.2.3", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.1.1", "link-local"),
    ("169.254.169.254", "metadata"),
    ("169.254.170.2", "metadata"),
    ("100.100.100.200", "metadata"),
    ("168.63.129.16", "metadata"),
    ("100.64.0.1", "CGNAT"),
    ("224.0.0.1", "multicast"),
    (UNSPECIFIED, "unspecified"),
    ("240.0.0.1", "private"),
    ("255.255.255.255", "private"),
    ("192.0.2.1", "private"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("fd00:ec2::254", "metadata"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "metadata"),
    ("64:ff9b::a00:1", "private"),
    ("2002:7f00:1::", "loopback"),
    ("2001:db8::1", "private"),
]


@pytest.mark.parametrize(("address", "reason"), REFUSED, ids=[a for a, _ in REFUSED])
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    why = refusal(ipaddress.ip_address(address), allow_private=False)
    assert why is not None
    assert reason in why


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "::1", "::ffff:192.168.0.1"])
def test_the_allowance_opens_private_ranges(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) is None


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254", UNSPECIFIED, "ff02::1"],
)
def test_metadata_multicast_and_unspecified_stay_refused_with_the_allowance(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) is not None


def test_an_allowed_network_opens_only_itself() -> None:
    allowed = [ipaddress.ip_network("127.0.0.1/32")]
    assert refusal(ipaddress.ip_address("127.0.0.1"), allow_private=False, allowed=allowed) is None
    assert refusal(ipaddress.ip_address("127.0.0.2"), allow_private=False, allowed=allowed)
    assert refusal(ipaddress.ip_address("::1"), allow_private=False, allowed=allowed)


def test_production_refuses_private_targets(tmp_path: Path) -> None:
    settings = production(tmp_path, tools={"allow_private_targets": True})
    with pytest.raises(ConfigError) as refused:
        check_boot(settings)
    assert "CORRAL_TOOLS_ALLOW_PRIVATE_TARGETS" in str(refused.value)


def test_the_allowance_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CORRAL_TOOLS_ALLOW_PRIVATE_TARGETS", "true")
    assert Settings().tools.allow_private_targets is True
