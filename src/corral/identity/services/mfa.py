"""The second factor: TOTP (RFC 6238) with one-time backup codes.

The TOTP secret is sealed with `CORRAL_ENCRYPTION_KEYS` (bound to its user), backup codes are
kept as keyed digests, and every accepted TOTP time step is remembered so that a code cannot be
used twice, even within its validity window.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.crypto import EncryptionKeyring
from corral.core.errors import Conflict, CorralError, InvalidInput
from corral.core.passwords import PasswordHashing
from corral.core.request_context import Actor
from corral.core.settings import AuthSettings
from corral.identity.models import MfaBackupCode, MfaChallenge, User
from corral.identity.services import lockout

ISSUER = "Corral"
BACKUP_CODE_COUNT = 10
_BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud and typed
_BACKUP_HALF = 5
# Codes of the previous and next 30-second step are accepted too: clocks drift.
_VALID_WINDOW = 1


@dataclass(frozen=True, slots=True)
class MfaDeps:
    keyring: EncryptionKeyring
    # Keys the backup-code digests: a leaked table alone does not let anyone test guesses.
    code_key: bytes


@dataclass(frozen=True, slots=True)
class Enrollment:
    secret: str
    otpauth_uri: str
    qr_svg: str


def secret_associated_data(user: User) -> bytes:
    """Binds a user's sealed TOTP secret to that user: copied to another row, it fails."""
    return f"users|{user.id}|totp".encode()


def _backup_digest(deps: MfaDeps, user_id: str, code: str) -> str:
    normalized = "".join(ch for ch in code.lower() if ch.isalnum())
    message = f"{user_id}|{normalized}".encode()
    return hmac.new(deps.code_key, message, hashlib.sha256).hexdigest()


def _new_backup_code() -> str:
    chars = [secrets.choice(_BACKUP_ALPHABET) for _ in range(2 * _BACKUP_HALF)]
    return "".join(chars[:_BACKUP_HALF]) + "-" + "".join(chars[_BACKUP_HALF:])


def _totp(deps: MfaDeps, user: User) -> pyotp.TOTP | None:
    if user.totp_secret_encrypted is None:
        return None
    secret = deps.keyring.decrypt(user.totp_secret_encrypted, secret_associated_data(user))
    return pyotp.TOTP(secret.decode())


async def accept_totp(session: AsyncSession, deps: MfaDeps, user: User, code: str) -> bool:
    """Whether `code` is a current TOTP code not used before; if so, its step is now used."""
    totp = _totp(deps, user)
    digits = code.strip().replace(" ", "")
    if totp is None or len(digits) != totp.digits or not digits.isdigit():
        return False
    now_step = totp.timecode(utcnow())
    matched = [
        step
        for step in range(now_step - _VALID_WINDOW, now_step + _VALID_WINDOW + 1)
        if hmac.compare_digest(totp.generate_otp(step), digits)
    ]
    if not matched:
        return False
    step = max(matched)
    # Conditional write: of two requests racing with one code, only one moves the step.
    result = await session.execute(
        update(User)
        .where(User.id == user.id)
        .where(or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    user.totp_last_step = step
    return True


async def use_backup_code(session: AsyncSession, deps: MfaDeps, user: User, code: str) -> bool:
    """Whether `code` is one of the user's unused backup codes; if so, it is now used."""
    result = await session.execute(
        update(MfaBackupCode)
        .where(
            MfaBackupCode.user_id == user.id,
            MfaBackupCode.code_digest == _backup_digest(deps, user.id, code),
            MfaBackupCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    used: int = result.rowcount  # type: ignore[attr-defined]
    return used == 1


async def _replace_backup_codes(session: AsyncSession, deps: MfaDeps, user: User) -> list[str]:
    await session.execute(delete(MfaBackupCode).where(MfaBackupCode.user_id == user.id))
    codes = [_new_backup_code() for _ in range(BACKUP_CODE_COUNT)]
    session.add_all(
        MfaBackupCode(user_id=user.id, code_digest=_backup_digest(deps, user.id, code))
        for code in codes
    )
    return codes


async def backup_codes_remaining(session: AsyncSession, user: User) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(MfaBackupCode)
        .where(MfaBackupCode.user_id == user.id, MfaBackupCode.used_at.is_(None))
    )
    return int(count or 0)


def _audit(session: AsyncSession, actor: Actor, action: str, user: User) -> None:
    audit.record(session, actor, action, target_type="user", target_id=user.id, org_id=None)


async def enroll(session: AsyncSession, deps: MfaDeps, user: User, *, actor: Actor) -> Enrollment:
    """A new secret, pending until confirmed with a code from the authenticator app."""
    if user.mfa_enabled:
        raise Conflict(
            "two-factor authentication is already on; disable it first to enroll again",
            code="mfa_already_enabled",
        )
    secret = pyotp.random_base32()
    user.totp_secret_encrypted = deps.keyring.encrypt(secret.encode(), secret_associated_data(user))
    user.totp_last_step = None
    _audit(session, actor, "user.mfa_enrollment_started", user)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return Enrollment(secret, uri, segno.make(uri, error="m").svg_inline(scale=4))


async def confirm(
    session: AsyncSession, deps: MfaDeps, user: User, *, code: str, actor: Actor
) -> list[str]:
    """Turn the second factor on with a first valid code; the backup codes, shown once."""
    if user.mfa_enabled:
        raise Conflict("two-factor authentication is already on", code="mfa_already_enabled")
    if user.totp_secret_encrypted is None:
        raise Conflict("enroll first (POST /api/auth/mfa/enroll)", code="mfa_not_enrolled")
    if not await accept_totp(session, deps, user, code):
        raise InvalidInput("the code is wrong or was already used", code="invalid_mfa_code")
    user.mfa_enabled = True
    codes = await _replace_backup_codes(session, deps, user)
    _audit(session, actor, "user.mfa_enrolled", user)
    return codes


async def clear(session: AsyncSession, user: User) -> None:
    """Remove every trace of the second factor (secret, backup codes, pending sign-ins)."""
    user.mfa_enabled = False
    user.totp_secret_encrypted = None
    user.totp_last_step = None
    await session.execute(delete(MfaBackupCode).where(MfaBackupCode.user_id == user.id))
    await session.execute(delete(MfaChallenge).where(MfaChallenge.user_id == user.id))


async def disable(
    session: AsyncSession,
    deps: MfaDeps,
    passwords: PasswordHashing,
    auth: AuthSettings,
    user: User,
    *,
    password: str | None,
    code: str | None,
    actor: Actor,
) -> CorralError | None:
    """Turn the second factor off, proven by the password or a current (or backup) code.

    Failed proofs count towards the account's lockout (a stolen session must not become a
    password oracle), so they are returned rather than raised: the caller commits the count.
    An enrollment never confirmed is dropped without proof: it protects nothing yet.
    """
    if not user.mfa_enabled:
        if user.totp_secret_encrypted is None:
            raise Conflict("two-factor authentication is off", code="mfa_not_enabled")
        await clear(session, user)
        _audit(session, actor, "user.mfa_enrollment_cancelled", user)
        return None
    if (locked := lockout.locked_error(user, utcnow())) is not None:
        return locked
    proven = (password is not None and passwords.verify(user.password_hash, password)) or (
        code is not None
        and (
            await accept_totp(session, deps, user, code)
            or await use_backup_code(session, deps, user, code)
        )
    )
    if not proven:
        lockout.count_failure(session, auth, user, actor, "user.reauthentication_failed")
        return InvalidInput(
            "the password or code is wrong (a code may be used once)",
            code="reauthentication_failed",
        )
    await clear(session, user)
    _audit(session, actor, "user.mfa_disabled", user)
    return None


async def regenerate_backup_codes(
    session: AsyncSession,
    deps: MfaDeps,
    auth: AuthSettings,
    user: User,
    *,
    code: str,
    actor: Actor,
) -> list[str] | CorralError:
    """New backup codes (the old ones stop working), proven by a current TOTP code.

    Like `disable`, a wrong code counts towards lockout and is returned, not raised.
    """
    if not user.mfa_enabled:
        raise Conflict("two-factor authentication is off", code="mfa_not_enabled")
    if (locked := lockout.locked_error(user, utcnow())) is not None:
        return locked
    if not await accept_totp(session, deps, user, code):
        lockout.count_failure(session, auth, user, actor, "user.reauthentication_failed")
        return InvalidInput("the code is wrong or was already used", code="invalid_mfa_code")
    codes = await _replace_backup_codes(session, deps, user)
    _audit(session, actor, "user.mfa_backup_codes_regenerated", user)
    return codes
