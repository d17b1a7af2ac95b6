"""Request and response bodies of the identity API. Never ORM rows on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from corral.core.schemas import RequestBody
from corral.identity.permissions import Role


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- accounts -------------------------------------------------------------------------------


class RegisterRequest(RequestBody):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)
    name: str = Field("", max_length=200)
    organization_name: str | None = Field(
        None, max_length=200, description="Name of the organization created for the new user."
    )
    invitation_token: str | None = Field(
        None, max_length=200, description="Join the inviting organization instead."
    )


class LoginRequest(RequestBody):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class PasswordChangeRequest(RequestBody):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class UserRead(_Read):
    id: str
    email: str
    name: str
    must_change_password: bool
    mfa_enabled: bool
    created_at: datetime


class MembershipRead(BaseModel):
    org_id: str
    org_name: str
    role: Role


class SessionCreated(BaseModel):
    user: UserRead
    csrf_token: str = Field(description="Send as X-CSRF-Token on cookie-authenticated mutations.")
    expires_at: datetime


class MeRead(BaseModel):
    kind: str = Field(description="`user` (session) or `api_key`.")
    user: UserRead | None
    memberships: list[MembershipRead]
    api_key: ApiKeyRead | None
    org_id: str | None = Field(description="The organization of the current application.")
    application_id: str | None
    permissions: list[str]
    end_user_id: str | None


# --- organizations ----------------------------------------------------------------------------


class OrganizationCreate(RequestBody):
    name: str = Field(min_length=1, max_length=200)


class OrganizationUpdate(RequestBody):
    name: str = Field(min_length=1, max_length=200)


class OrganizationRead(_Read):
    id: str
    name: str
    created_at: datetime
    role: Role | None = None


class MemberRead(BaseModel):
    user_id: str
    email: str
    name: str
    role: Role
    joined_at: datetime


class MemberUpdate(RequestBody):
    role: Role


class OwnershipTransfer(RequestBody):
    user_id: str = Field(description="A member who becomes an owner; the caller becomes admin.")


class InvitationCreate(RequestBody):
    email: EmailStr
    role: Role = Role.MEMBER


class InvitationRead(_Read):
    id: str
    org_id: str
    email: str
    role: Role
    expires_at: datetime
    accepted_at: datetime | None
    created_at: datetime


class InvitationCreated(InvitationRead):
    email_sent: bool = Field(
        description="Whether the invitation email was delivered. False when SMTP is not "
        "configured or delivery failed: then pass `accept_url` on yourself."
    )
    token: str | None = Field(
        description="Shown once, only when the email was not sent: the invitee registers (or, "
        "signed in, accepts) with it."
    )
    accept_url: str | None = Field(
        description="Shown once, only when the email was not sent: the link the email holds."
    )


class InvitationAccept(RequestBody):
    token: str = Field(min_length=1, max_length=200)


class InvitationAccepted(BaseModel):
    org_id: str
    role: Role


# --- password reset and second factor ---------------------------------------------------------


class PasswordResetRequest(RequestBody):
    email: EmailStr


class PasswordResetAccepted(BaseModel):
    detail: str = "if an account has this email address, a reset link is on its way"


class PasswordResetConfirm(RequestBody):
    token: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=1, max_length=1024)


class MfaChallengeRead(BaseModel):
    mfa_required: bool = Field(True, description="Always true: send a code to /mfa/verify.")
    mfa_token: str = Field(
        description="Short-lived; only POST /api/auth/mfa/verify accepts it (it is no session)."
    )
    expires_at: datetime


class MfaVerify(RequestBody):
    mfa_token: str = Field(min_length=1, max_length=200)
    code: str = Field(
        min_length=1, max_length=32, description="A TOTP code or an unused backup code."
    )


class MfaEnrollment(BaseModel):
    secret: str = Field(description="Base32 TOTP secret, for manual entry. Shown once.")
    otpauth_uri: str = Field(description="`otpauth://totp/…` for authenticator apps.")
    qr_svg: str = Field(description="The URI as an SVG QR code.")


class MfaCode(RequestBody):
    code: str = Field(min_length=1, max_length=32)


class MfaDisable(RequestBody):
    password: str | None = Field(None, min_length=1, max_length=1024)
    code: str | None = Field(
        None, min_length=1, max_length=32, description="A TOTP code or an unused backup code."
    )


class BackupCodes(BaseModel):
    backup_codes: list[str] = Field(description="One-time codes, shown once; store them safely.")


class MfaStatus(BaseModel):
    enabled: bool
    pending_enrollment: bool
    backup_codes_remaining: int


# --- applications -----------------------------------------------------------------------------


class ApplicationCreate(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    org_id: str | None = Field(None, description="Defaults to the caller's current organization.")


class ApplicationUpdate(RequestBody):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)


class ApplicationRead(_Read):
    id: str
    org_id: str
    name: str
    description: str
    is_default: bool
    created_at: datetime


# --- API keys ---------------------------------------------------------------------------------


class ApiKeyCreate(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=64)
    expires_at: datetime | None = Field(None, description="Absent: the key never expires.")


class ApiKeyRead(_Read):
    id: str
    application_id: str
    name: str
    lookup_prefix: str = Field(description="The first characters of the key, to recognise it.")
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    replaced_by_id: str | None
    created_at: datetime


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret key. Shown once; store it now.")


class ScopeRead(BaseModel):
    scope: str
    description: str


# --- end-users --------------------------------------------------------------------------------


class EndUserCreate(RequestBody):
    external_id: str = Field(min_length=1, max_length=255)
    name: str | None = Field(None, max_length=255)
    email: EmailStr | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class EndUserUpdate(RequestBody):
    name: str | None = Field(None, max_length=255)
    email: EmailStr | None = None
    metadata: dict[str, Any] | None = None


class EndUserRead(BaseModel):
    id: str
    application_id: str
    external_id: str
    name: str | None
    email: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


MeRead.model_rebuild()
