"""The connections table: credentials stored only as AES-256-GCM ciphertext."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from corral.core.clock import utcnow
from corral.core.db import Base, UTCDateTime
from corral.core.ids import new_id


class Connection(Base):
    """Credentials for an outside service, of the application or of one of its end-users."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("application_id", "owner_key", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("con"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    end_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("end_users.id", ondelete="CASCADE"), nullable=True
    )
    # The end-user id, or "" for the application's own: unique names per owner on every
    # database, where a NULL in a unique key would never collide.
    owner_key: Mapped[str] = mapped_column(String(40), default="")
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(2000), default="")
    auth_type: Mapped[str] = mapped_column(String(16))
    auth_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    authorized_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
