"""The record of webhook updates by chat, through which several processes take a chat's turns
(see `domain.persistence.chat_turns`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index
from sqlalchemy.orm import Mapped, mapped_column

from domain.persistence.tables import Base, UtcDateTime


class ChatUpdateRow(Base):
    """An update of a chat: recorded when it arrived, marked done when its turn was over."""

    __tablename__ = "chat_updates"
    __table_args__ = (
        Index("ix_chat_updates_chat", "chat_id", "update_id"),
        Index("ix_chat_updates_received", "received_at"),
    )

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
