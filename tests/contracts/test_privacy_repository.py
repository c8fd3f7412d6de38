"""Which customers retention erases: those with no sign of life since a date and no money left
in their wallet. The contract held by the fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

from domain.allowances import UNLIMITED
from domain.broadcasts import Audience, BroadcastStatus, PushSkip
from domain.repositories import NewTicket
from domain.repositories.broadcasts import NewBroadcast
from tests.contracts.conftest import NOW, World
from tests.contracts.money import an_offer, load
from tests.contracts.test_order_repository import a_recharge

SINCE = NOW + timedelta(days=1)
AFTER = SINCE + timedelta(hours=1)
CLAIM = timedelta(minutes=2)
ZONE = "Asia/Shanghai"


def a_push() -> NewBroadcast:
    return NewBroadcast(
        status=BroadcastStatus.SCHEDULED.value,
        text_zh="充值有礼",
        text_en="Recharge gifts",
        targets=[],
        audience={},
        send_at=NOW,
        created_by=1,
        created_at=NOW,
    )


async def test_only_customers_with_no_sign_of_life_and_no_money_are_inactive(
    world: World,
) -> None:
    quiet, spent, ordering, asking, chatting, holding, erased = [
        await world.customer() for _ in range(7)
    ]
    async with world.units() as uow:
        assert await uow.wallets.post(spent, 500, "CNY", "topup", "in", NOW)
        assert await uow.wallets.post(spent, -500, "CNY", "payment", "out", NOW)
        assert await uow.wallets.post(holding, 100, "CNY", "topup", "kept", NOW)
        await uow.orders.add(a_recharge(ordering), "customer", UNLIMITED)
        await uow.commit()
    async with world.units() as uow:
        ticket = NewTicket(asking, 1, "other", "normal", "open", None, AFTER)
        await uow.support.open_ticket(ticket)
        customer = await uow.customers.get(chatting)
        assert customer is not None and customer.telegram_id is not None
        await uow.conversations.upsert(1, customer.telegram_id, "menu", {}, AFTER)
        moved = await uow.orders.of_customer(ordering, 1)
        await uow.orders.move(moved[0].id, ["created"], "expired", "sweep", AFTER)
        await uow.customers.erase(erased, NOW)
        await uow.commit()
    async with world.units.read() as uow:
        inactive = await uow.privacy.inactive_customers(SINCE, 10)
        first = await uow.privacy.inactive_customers(SINCE, 1)
        before = await uow.privacy.inactive_customers(NOW - timedelta(days=400), 10)
    assert inactive == [quiet, spent]
    assert first == [quiet]
    assert before == []


async def test_erasing_forgets_a_customers_chats_in_reminders_and_pushes(world: World) -> None:
    """Subscriptions go; reminders and pushes not sent yet are skipped; those sent or being sent
    keep no chat; a survey comment is erased. Another customer's are untouched."""
    me, other = await world.customer(), await world.customer()
    offers = await load(world, "festival", an_offer("festival-offer"))
    async with world.services() as uow:
        offer = await uow.campaigns.offer(offers["festival-offer"])
        assert offer is not None
        campaign_id = offer.campaign_id
        for customer_id in (me, other):
            await uow.reminders.subscribe(customer_id, campaign_id, "*", 1, ZONE, NOW)
        for key in ("ending", "last-hour"):
            await uow.reminders.plan(
                campaign_id=campaign_id,
                timezone=ZONE,
                after_id=0,
                up_to_id=1_000_000,
                key=key,
                due_at=NOW if key == "ending" else AFTER,
                stale_at=AFTER + timedelta(hours=1),
                now=NOW,
            )
        being_sent = await uow.reminders.claim_due(NOW, NOW + CLAIM, 10)  # "ending", both
        broadcast_id = await uow.broadcasts.add(a_push())
        await uow.broadcasts.plan(broadcast_id, Audience(), 0, 1_000_000, NOW)
        assert await uow.broadcasts.rate(broadcast_id, me, None, 4, NOW)
        assert await uow.broadcasts.comment(broadcast_id, me, "my number is 186...")
        await uow.commit()
    assert len(being_sent) == 2

    async with world.services() as uow:
        await uow.privacy.forget_chats(me)
        await uow.commit()

    async with world.services() as uow:
        assert await uow.reminders.subscriptions_of(me) == []
        assert len(await uow.reminders.subscriptions_of(other)) == 1
        progress = await uow.broadcasts.progress(broadcast_id)
        lapsed = await uow.reminders.claim_due(NOW + CLAIM * 2, AFTER, 10)
        chats = {row.customer_id: row.chat_id for row in lapsed}
        await uow.rollback()
    assert chats == {me: 0, other: 1}  # being sent when erased: taken again, with no chat
    assert sorted(progress) == [("planned", None, 1), ("skipped", PushSkip.ERASED.value, 1)]
    async with world.services.read() as uow:
        reminders = sorted((s, n) for _, s, n in await uow.reminders.progress())
    assert reminders == [("planned", 1), ("sending", 2), ("skipped", 1)]
