"""PII entity detectors: RE2 candidates confirmed by checksums and range checks.

Formats are deliberately narrow (separators required for US phone numbers and SSNs) because a
bare run of digits in telemetry is far more often an id or a timestamp than a person's data.
"""

from __future__ import annotations

import ipaddress

from corral.telemetry.detectors import Detector, Validator

# Issuer prefixes of the major card networks (Visa, Mastercard, Amex, Discover, JCB, Diners,
# UnionPay); a Luhn-valid number outside them is most likely an id.
_CARD_PREFIXES = (
    "4",
    *(str(n) for n in range(51, 56)),
    *(str(n) for n in range(2221, 2721)),
    "34",
    "37",
    "6011",
    "65",
    *(str(n) for n in range(644, 650)),
    *(str(n) for n in range(3528, 3590)),
    *(str(n) for n in range(300, 306)),
    "36",
    "38",
    "62",
)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def luhn_valid(number: str) -> bool:
    """True when a digit string passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        digit = ord(ch) - 48
        if i % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _credit_card(text: str, start: int, end: int) -> bool:
    number = _digits(text[start:end])
    return 13 <= len(number) <= 19 and number.startswith(_CARD_PREFIXES) and luhn_valid(number)


def iban_valid(candidate: str) -> bool:
    """True when an IBAN (spaces allowed) has a plausible length and passes ISO 7064 mod 97."""
    iban = candidate.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


def _iban(text: str, start: int, end: int) -> bool:
    return iban_valid(text[start:end])


def _us_ssn(text: str, start: int, end: int) -> bool:
    area, group, serial = text[start:end].split("-")
    if area in ("000", "666") or area.startswith("9"):
        return False
    return group != "00" and serial != "0000"


def _phone(text: str, start: int, end: int) -> bool:
    return 8 <= len(_digits(text[start:end])) <= 15


def _ipv4(text: str, start: int, end: int) -> bool:
    # `\b` cannot see that 1.2.3.4 is part of a longer dotted run (a version, an OID).
    before = text[start - 2 : start] if start >= 2 else ""
    after = text[end : end + 2]
    dotted_before = len(before) == 2 and before[1] == "." and before[0].isdigit()
    dotted_after = len(after) == 2 and after[0] == "." and after[1].isdigit()
    return not (dotted_before or dotted_after)


def _ipv6(text: str, start: int, end: int) -> bool:
    try:
        ipaddress.IPv6Address(text[start:end])
    except ValueError:
        return False
    return True


def _pii(detector_id: str, description: str, pattern: str, validate: Validator | None) -> Detector:
    return Detector(detector_id, description, pattern, "pii", 0, validate)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"

# IBANs come before cards: the digits of an IBAN can pass for a card number.
PII_DETECTORS: tuple[Detector, ...] = (
    _pii(
        "email",
        "Email address",
        r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*"
        r"\.[A-Za-z]{2,}\b",
        None,
    ),
    _pii(
        "iban",
        "International bank account number (mod-97 checked)",
        r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
        _iban,
    ),
    _pii(
        "credit_card",
        "Payment card number (major networks, Luhn-checked)",
        r"\b[0-9](?:[ -]?[0-9]){12,18}\b",
        _credit_card,
    ),
    _pii(
        "us_ssn",
        "US social security number (dashed form)",
        r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b",
        _us_ssn,
    ),
    _pii(
        "phone",
        "Phone number: international (+ prefix) or dashed/dotted North American form",
        r"\+[1-9][0-9]{7,14}\b|\+[1-9][0-9]{0,3}(?:[ .-][0-9]{2,4}){2,5}\b"
        r"|(?:\([2-9][0-9]{2}\) ?|\b[2-9][0-9]{2}[-. ])[2-9][0-9]{2}[-. ][0-9]{4}\b",
        _phone,
    ),
    _pii("ipv4", "IPv4 address", r"\b" + _OCTET + r"(?:\." + _OCTET + r"){3}\b", _ipv4),
    _pii(
        "ipv6",
        "IPv6 address",
        r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3}",
        _ipv6,
    ),
)
