"""Two-person rule on a held referral whose rewards reach RISK_TWO_PERSON_FEN: the first staff
member's approval is recorded, the same member again does not count, a second one pays out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.assembly import App
from domain.audit import AuditAction
from scheduler.referrals import sweep_referrals
from tests.handlers.test_referral_conversation import (
    STAFF_CHAT,
    STAFF_ID,
    Outbox,
    _held_referral,
    _in_staff_chat,
    invite_fest,
)

SECOND = 7002


@pytest.fixture
async def desk(sqlite_url: str) -> AsyncIterator[App]:
    async with invite_fest(
        sqlite_url,
        admin_ids=f"{STAFF_ID},{SECOND}",
        risk_two_person_fen=500,  # the friend's ¥5 red packet
    ) as app:
        yield app


async def test_a_large_reward_is_paid_once_a_second_staff_member_approves(desk: App) -> None:
    outbox = Outbox()
    _, _, alert = await _held_referral(desk, outbox)
    approve = alert.buttons[0][0]
    first = await _in_staff_chat(desk, STAFF_ID, approve.data or "")
    needed = "邀请奖励 #1 金额较大：需要另一位客服批准后才会发放。"
    assert first.notice == needed
    again = await _in_staff_chat(desk, STAFF_ID, approve.data or "")
    assert again.notice == needed
    await sweep_referrals(desk.services, outbox, STAFF_CHAT)
    assert outbox.to(1001) == [] and outbox.to(2002) == []  # nothing paid yet

    second = await _in_staff_chat(desk, SECOND, approve.data or "")
    assert second.notice is not None and "已由 Mallory 批准" in second.notice
    await sweep_referrals(desk.services, outbox, STAFF_CHAT)
    assert outbox.to(1001) and outbox.to(2002)
    actions = [r.entry.action for r in await desk.services.audit.recent()]
    assert actions[:2] == [AuditAction.REFERRAL_APPROVED, AuditAction.FIRST_APPROVAL]
