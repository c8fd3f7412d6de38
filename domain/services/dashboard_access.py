"""Who may see the campaign dashboard: staff only, signed in without a password.

A staff member asks the bot (`/dashboard`) or the command line (`python -m bot staff link ID`)
for a link. The link carries a random token, valid for `LINK_LIFETIME` and usable once; opening
it gives a session token (the browser's cookie) valid for `SESSION_LIFETIME`. The database keeps
only SHA-256 hashes of both, so a copy of the database signs nobody in. Every request checks the
session and that its holder is still staff.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from domain.audit import ActorKind, AuditAction, AuditEntry
from domain.clock import Clock, utc_now
from domain.repositories import UnitOfWorkFactory
from domain.services.staff import StaffDirectory

LINK_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(hours=8)
LINK = "link"
SESSION = "session"
# Tokens are URL-safe base64 of 32 random bytes (43 characters); anything longer is refused
# before it is hashed.
MAX_TOKEN_LENGTH = 64


class NotStaff(Exception):
    """Only staff (ADMIN_IDS and granted roles) get a dashboard link."""


@dataclass(frozen=True)
class DashboardSession:
    token: str
    telegram_id: int
    lifetime: timedelta

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token(session_token: str) -> str:
    """The form token of a session: derived from it, so a page of another site cannot know it."""
    return hmac.new(session_token.encode("utf-8"), b"csrf", hashlib.sha256).hexdigest()


def _well_formed(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_LENGTH and token.isascii()


class DashboardAccess:
    def __init__(self, uow: UnitOfWorkFactory, staff: StaffDirectory, clock: Clock = utc_now):
        self._uow = uow
        self._staff = staff
        self._clock = clock

    async def issue_link(self, telegram_id: int) -> str:
        """A single-use sign-in token for a staff member (NotStaff for anybody else)."""
        if not await self._staff.is_staff(telegram_id):
            raise NotStaff(telegram_id)
        token = secrets.token_urlsafe(32)
        now = self._clock()
        async with self._uow() as uow:
            await uow.dashboard_tokens.forget_expired(now)
            uow.dashboard_tokens.add(token_hash(token), LINK, telegram_id, now, now + LINK_LIFETIME)
            await uow.commit()
        return token

    async def open_session(self, link_token: str) -> DashboardSession | None:
        """Use a link once and open a session; None for an unknown, expired or used link, or
        for somebody who is no longer staff."""
        if not _well_formed(link_token):
            return None
        now = self._clock()
        async with self._uow() as uow:
            telegram_id = await uow.dashboard_tokens.use(token_hash(link_token), LINK, now)
            await uow.commit()
        if telegram_id is None or not await self._staff.is_staff(telegram_id):
            return None
        token = secrets.token_urlsafe(32)
        async with self._uow() as uow:
            uow.dashboard_tokens.add(
                token_hash(token), SESSION, telegram_id, now, now + SESSION_LIFETIME
            )
            await uow.audit.append(
                AuditEntry(
                    AuditAction.DASHBOARD_SIGN_IN,
                    ActorKind.STAFF,
                    telegram_id,
                    f"staff:{telegram_id}",
                ),
                now,
            )
            await uow.commit()
        return DashboardSession(token, telegram_id, SESSION_LIFETIME)

    async def session(self, session_token: str) -> DashboardSession | None:
        """The session of a cookie while it lasts and its holder is staff; None otherwise."""
        if not _well_formed(session_token):
            return None
        async with self._uow.read() as uow:
            telegram_id = await uow.dashboard_tokens.holder(
                token_hash(session_token), SESSION, self._clock()
            )
        if telegram_id is None or not await self._staff.is_staff(telegram_id):
            return None
        return DashboardSession(session_token, telegram_id, SESSION_LIFETIME)

    async def sign_out(self, session_token: str) -> None:
        if not _well_formed(session_token):
            return
        async with self._uow() as uow:
            await uow.dashboard_tokens.use(token_hash(session_token), SESSION, self._clock())
            await uow.commit()
