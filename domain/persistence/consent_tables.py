"""Consent to the privacy notice (PIPL): given before personal data is kept; marketing apart."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from domain.persistence.tables import Base, UtcDateTime


class PrivacyConsentRow(Base):
    __tablename__ = "privacy_consents"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Separate and optional: campaign offers pushed to the customer.
    marketing: Mapped[bool] = mapped_column(Boolean, default=False)
