"""Tables through which several processes share what one process would keep in memory: the
record of webhook updates by chat (a chat's turns, `domain.persistence.chat_turns`) and the places
taken by unasked messages (Telegram's limits, `domain.persistence.outbound_limits`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer
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


class OutboundSendRow(Base):
    """A place taken by one unasked message (sent then, to that chat), kept for two minutes."""

    __tablename__ = "outbound_sends"
    __table_args__ = (
        Index("ix_outbound_sends_at", "at"),
        Index("ix_outbound_sends_chat", "chat_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
