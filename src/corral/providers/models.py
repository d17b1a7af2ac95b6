"""The model_providers table: an application's own provider keys, stored only as ciphertext."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from corral.core.clock import utcnow
from corral.core.db import Base, UTCDateTime
from corral.core.ids import new_id


class ApplicationProvider(Base):
    """A model provider an application brings, with its API key (AES-256-GCM)."""

    __tablename__ = "model_providers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("prov"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(200), default="")
    api: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(String(2000))
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    key_ciphertext: Mapped[str] = mapped_column(Text)
    # The key's last characters, so people can tell keys apart; never more of it.
    key_hint: Mapped[str] = mapped_column(String(8), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
