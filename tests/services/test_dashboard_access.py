"""Signing in to the dashboard, on the fake unit of work: a link works once and only for staff,
a session lasts its lifetime, and only hashes of the tokens are kept. Concurrent presses of one
link and the pages themselves are tested over HTTP on the databases (`tests/dashboard/`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.audit import AuditAction
from domain.services.dashboard_access import (
    LINK_LIFETIME,
    SESSION_LIFETIME,
    DashboardAccess,
    NotStaff,
    token_hash,
)
from domain.services.staff import StaffDirectory, StaffRole
from tests.fakes.clock import ManualClock
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)
ADMIN = 1


def access(units: FakeUnitOfWorkFactory, clock: ManualClock) -> DashboardAccess:
    return DashboardAccess(units, StaffDirectory({ADMIN}, units, clock), clock)


async def test_a_link_opens_one_session_which_lasts_until_it_expires() -> None:
    units, clock = FakeUnitOfWorkFactory(), ManualClock(NOW)
    dashboard = access(units, clock)
    link = await dashboard.issue_link(ADMIN)
    session = await dashboard.open_session(link)
    assert session is not None and session.telegram_id == ADMIN
    assert await dashboard.open_session(link) is None  # used once already
    assert await dashboard.session(session.token) == session
    assert set(units.database.tables.dashboard_tokens) == {
        token_hash(link),
        token_hash(session.token),
    }
    clock.advance(seconds=SESSION_LIFETIME.total_seconds())
    assert await dashboard.session(session.token) is None
    async with units.read() as uow:
        [signed_in] = await uow.audit.recent(10)
    assert signed_in.entry.action is AuditAction.DASHBOARD_SIGN_IN
    assert signed_in.entry.subject == f"staff:{ADMIN}"


async def test_only_staff_get_a_link_and_an_expired_or_forged_one_is_refused() -> None:
    units, clock = FakeUnitOfWorkFactory(), ManualClock(NOW)
    dashboard = access(units, clock)
    with pytest.raises(NotStaff):
        await dashboard.issue_link(2)
    link = await dashboard.issue_link(ADMIN)
    assert await dashboard.open_session("x" * 65) is None
    assert await dashboard.open_session("") is None
    clock.advance(seconds=LINK_LIFETIME.total_seconds())
    assert await dashboard.open_session(link) is None
    await dashboard.issue_link(ADMIN)  # forgets the expired link
    assert token_hash(link) not in units.database.tables.dashboard_tokens


async def test_signing_out_or_losing_the_role_ends_the_session() -> None:
    units, clock = FakeUnitOfWorkFactory(), ManualClock(NOW)
    staff = StaffDirectory({ADMIN}, units, clock)
    dashboard = DashboardAccess(units, staff, clock)
    await staff.grant(7, StaffRole.AGENT)
    first = await dashboard.open_session(await dashboard.issue_link(7))
    second = await dashboard.open_session(await dashboard.issue_link(ADMIN))
    assert first is not None and second is not None
    await staff.revoke(7)
    assert await dashboard.session(first.token) is None
    await dashboard.sign_out(second.token)
    assert await dashboard.session(second.token) is None
