"""Keyrings and password hashing: round trips, rotation, binding, tampering and the pepper."""

from __future__ import annotations

import os

import pytest

from corral.core.crypto import DecryptionFailed, EncryptionKeyring, Signer, token_digest
from corral.core.passwords import PasswordHashing

OLD_KEY = ("k2025", os.urandom(32))
NEW_KEY = ("k2026", os.urandom(32))
AD = b"org_1|conn_1"


def _flip(token: str, index: int) -> str:
    """The token with one character of its base64 body changed."""
    prefix, body = token.rsplit(".", 1)
    replacement = "A" if body[index] != "A" else "B"
    return f"{prefix}.{body[:index]}{replacement}{body[index + 1 :]}"


# --- EncryptionKeyring ---------------------------------------------------------------------


def test_round_trip_and_fresh_nonce_each_time() -> None:
    ring = EncryptionKeyring((NEW_KEY,))
    first, second = ring.encrypt(b"sk-provider-key", AD), ring.encrypt(b"sk-provider-key", AD)
    assert first != second
    assert b"sk-provider-key" not in first.encode()
    assert ring.decrypt(first, AD) == ring.decrypt(second, AD) == b"sk-provider-key"
    assert ring.kid_of(first) == NEW_KEY[0]
    assert ring.active_kid == NEW_KEY[0]


def test_empty_plaintext_round_trips() -> None:
    ring = EncryptionKeyring((NEW_KEY,))
    assert ring.decrypt(ring.encrypt(b"", AD), AD) == b""


def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    before = EncryptionKeyring((OLD_KEY,))
    old_token = before.encrypt(b"written before rotation", AD)
    rotated = EncryptionKeyring((NEW_KEY, OLD_KEY))
    assert rotated.decrypt(old_token, AD) == b"written before rotation"
    new_token = rotated.encrypt(b"written after", AD)
    assert rotated.kid_of(new_token) == NEW_KEY[0]
    assert rotated.kid_of(old_token) == OLD_KEY[0]
    # Once the old key is retired its ciphertexts fail loudly rather than decrypting wrongly.
    retired = EncryptionKeyring((NEW_KEY,))
    assert retired.decrypt(new_token, AD) == b"written after"
    with pytest.raises(DecryptionFailed, match=OLD_KEY[0]):
        retired.decrypt(old_token, AD)


def test_wrong_associated_data_fails() -> None:
    ring = EncryptionKeyring((NEW_KEY,))
    token = ring.encrypt(b"secret", b"org_1|conn_1")
    with pytest.raises(DecryptionFailed):
        ring.decrypt(token, b"org_2|conn_1")
    with pytest.raises(DecryptionFailed):
        ring.decrypt(token, b"")


@pytest.mark.parametrize("index", [0, 10, 20, -2], ids=["nonce", "nonce-end", "sealed", "tag"])
def test_tampered_ciphertext_fails(index: int) -> None:
    """A changed byte in the nonce, the sealed text or the tag is refused."""
    # (-2, not -1: the last base64 character of an unpadded body carries unused bits.)
    ring = EncryptionKeyring((NEW_KEY,))
    token = ring.encrypt(b"secret value", AD)
    with pytest.raises(DecryptionFailed):
        ring.decrypt(_flip(token, index), AD)


def test_ciphertext_under_the_same_kid_but_another_key_fails() -> None:
    token = EncryptionKeyring((("k1", os.urandom(32)),)).encrypt(b"secret", AD)
    with pytest.raises(DecryptionFailed):
        EncryptionKeyring((("k1", os.urandom(32)),)).decrypt(token, AD)


def test_unknown_kid_fails_and_names_it() -> None:
    token = EncryptionKeyring((("elsewhere", os.urandom(32)),)).encrypt(b"secret", AD)
    with pytest.raises(DecryptionFailed, match="elsewhere"):
        EncryptionKeyring((NEW_KEY, OLD_KEY)).decrypt(token, AD)


@pytest.mark.parametrize("token", ["", "garbage", "v1.k2026", "v0.k2026.AAAAAAAAAAAAAAAAAAAAAAAA"])
def test_malformed_token_fails(token: str) -> None:
    with pytest.raises(DecryptionFailed):
        EncryptionKeyring((NEW_KEY,)).decrypt(token, AD)


@pytest.mark.parametrize(
    "body",
    ["", "AAAA", "a", "\u00e9\u00e9\u00e9\u00e9"],
    ids=["empty", "short", "bad-padding", "non-ascii"],
)
def test_truncated_ciphertext_fails_as_decryption_failure(body: str) -> None:
    """A cut or garbled body is a DecryptionFailed, never a stray ValueError (a 500)."""
    with pytest.raises(DecryptionFailed):
        EncryptionKeyring((NEW_KEY,)).decrypt(f"v1.{NEW_KEY[0]}.{body}", AD)


def test_keyring_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        EncryptionKeyring(())


# --- Signer --------------------------------------------------------------------------------


def test_signature_verifies_for_its_purpose_only() -> None:
    signer = Signer((b"s" * 32,))
    signature = signer.sign(b"session-token", purpose="csrf")
    assert signer.verify(b"session-token", signature, purpose="csrf")
    assert not signer.verify(b"session-token", signature, purpose="password_reset")
    assert not signer.verify(b"other-token", signature, purpose="csrf")
    assert signer.sign(b"m", purpose="a") != signer.sign(b"m", purpose="b")


def test_signing_is_deterministic_per_key() -> None:
    assert Signer((b"s" * 32,)).sign(b"m", purpose="p") == Signer((b"s" * 32,)).sign(
        b"m", purpose="p"
    )
    assert Signer((b"s" * 32,)).sign(b"m", purpose="p") != Signer((b"t" * 32,)).sign(
        b"m", purpose="p"
    )


def test_signer_rotation_first_signs_all_verify() -> None:
    old, new = b"o" * 32, b"n" * 32
    old_signature = Signer((old,)).sign(b"message", purpose="session")
    rotated = Signer((new, old))
    assert rotated.verify(b"message", old_signature, purpose="session")
    new_signature = rotated.sign(b"message", purpose="session")
    assert new_signature != old_signature
    assert Signer((new,)).verify(b"message", new_signature, purpose="session")
    # The old key alone does not accept what the new key signed, and retiring it drops its tokens.
    assert not Signer((old,)).verify(b"message", new_signature, purpose="session")
    assert not Signer((new,)).verify(b"message", old_signature, purpose="session")


@pytest.mark.parametrize("signature", ["", "a", "not base64 !!", "\u00e9t\u00e9", "A" * 43])
def test_garbage_signature_is_false_not_an_error(signature: str) -> None:
    assert not Signer((b"s" * 32,)).verify(b"message", signature, purpose="csrf")


def test_signer_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        Signer(())


def test_token_digest_is_stable_and_hides_the_token() -> None:
    digest = token_digest("crl_example_token")
    assert digest == token_digest("crl_example_token")
    assert digest != token_digest("crl_example_tokem")
    assert "crl_" not in digest
    assert len(digest) == 64


# --- PasswordHashing -----------------------------------------------------------------------

CHEAP = {"time_cost": 1, "memory_kib": 64, "parallelism": 1}
PEPPER = b"p" * 32


def test_password_verifies_and_wrong_one_does_not() -> None:
    hashing = PasswordHashing(PEPPER, **CHEAP)
    stored = hashing.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert hashing.verify(stored, "correct horse battery staple")
    assert not hashing.verify(stored, "correct horse battery stapler")
    assert hashing.hash("correct horse battery staple") != stored


def test_missing_or_corrupt_hash_never_verifies() -> None:
    hashing = PasswordHashing(PEPPER, **CHEAP)
    # None is the unknown-account case: the decoy is checked for timing but must not pass.
    assert not hashing.verify(None, "decoy password for timing")
    assert not hashing.verify(None, "anything")
    assert not hashing.verify("not-a-hash", "anything")
    assert not hashing.verify("", "anything")


def test_pepper_matters() -> None:
    stored = PasswordHashing(b"a" * 32, **CHEAP).hash("correct horse battery staple")
    assert not PasswordHashing(b"b" * 32, **CHEAP).verify(stored, "correct horse battery staple")
    assert PasswordHashing(b"a" * 32, **CHEAP).verify(stored, "correct horse battery staple")


def test_needs_rehash_when_parameters_change() -> None:
    current = PasswordHashing(PEPPER, **CHEAP)
    stored = current.hash("correct horse battery staple")
    assert not current.needs_rehash(stored)
    stronger = PasswordHashing(PEPPER, time_cost=2, memory_kib=128, parallelism=1)
    assert stronger.needs_rehash(stored)
    # An old hash still verifies under new parameters, which is what lets login rehash it.
    assert stronger.verify(stored, "correct horse battery staple")
    assert not stronger.needs_rehash(stronger.hash("correct horse battery staple"))
