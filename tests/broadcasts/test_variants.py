"""A/B variants: the split is stable and even, the database assigns the same variant as the
rule, each customer gets their variant's text, and the report counts per variant what was
delivered, pressed and followed by a recharge within 24 hours."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.assembly import App
from domain.broadcasts import (
    PushContent,
    PushTarget,
    bucket_of,
    even_split,
    parse_split,
    variant_of,
)
from domain.persistence.broadcast_tables import BroadcastOutboxRow
from scheduler.broadcasts import plan_broadcasts, sweep_broadcasts
from tests.broadcasts.setup import STAFF_ID, customers
from tests.dashboard.data import add_order
from tests.handlers.chat import Chat
from tests.reminder_setup import Clock, RecordingOutbox

A = PushContent("版本甲", "Version A", (PushTarget.OFFERS,))
B = PushContent("版本乙", "Version B", (PushTarget.OFFERS,))
C = PushContent("版本丙", "Version C", (PushTarget.OFFERS,))

splits = st.lists(st.integers(1, 98), min_size=1, max_size=2).filter(lambda s: sum(s) < 100)


@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1), splits)
def test_a_customer_keeps_their_variant_and_every_variant_is_reachable(
    customer_id: int, broadcast_id: int, first: list[int]
) -> None:
    shares = (*first, 100 - sum(first))
    bucket = bucket_of(customer_id, broadcast_id)
    assert 0 <= bucket < 100
    variant = variant_of(bucket, shares)
    assert variant == variant_of(bucket_of(customer_id, broadcast_id), shares)
    assert sum(shares[:variant]) <= bucket < sum(shares[: variant + 1])


@given(st.integers(1, 10**6), st.integers(1, 10**6))
def test_every_hundred_consecutive_customers_split_exactly_by_the_shares(
    first_customer: int, broadcast_id: int
) -> None:
    shares = (70, 20, 10)
    counts = Counter(
        variant_of(bucket_of(c, broadcast_id), shares)
        for c in range(first_customer, first_customer + 100)
    )
    assert counts == {0: 70, 1: 20, 2: 10}


def test_splits_staff_type() -> None:
    assert even_split(2) == (50, 50)
    assert even_split(3) == (34, 33, 33)
    assert parse_split("70/30", 2) == (70, 30)
    assert parse_split("50%/25%/25%", 3) == (50, 25, 25)
    assert parse_split("70/20", 2) is None  # not 100
    assert parse_split("100/0", 2) is None  # a variant sent to nobody
    assert parse_split("七十/三十", 2) is None


async def test_each_customer_gets_their_variant_and_the_report_counts_per_variant(
    world: App, clock: Clock
) -> None:
    ids = await customers(world, range(1001, 1201))
    broadcast_id = await world.services.broadcasts.create(
        A, STAFF_ID, variants=(B, C), shares=(50, 30, 20)
    )
    await plan_broadcasts(world.services)
    async with world.engine.connect() as connection:
        planned = dict(
            (
                await connection.execute(
                    select(BroadcastOutboxRow.customer_id, BroadcastOutboxRow.variant)
                )
            ).all()
        )
    assert planned == {
        customer_id: variant_of(bucket_of(customer_id, broadcast_id), (50, 30, 20))
        for customer_id in ids.values()
    }
    assert Counter(planned.values()) == {0: 100, 1: 60, 2: 40}

    outbox = RecordingOutbox()
    assert await sweep_broadcasts(world.services, outbox) == 200
    by_customer = {telegram_id: ids[telegram_id] for telegram_id in ids}
    texts = {"版本甲": 0, "版本乙": 1, "版本丙": 2}
    for telegram_id, reply in outbox.sent:
        assert texts[reply.text] == planned[by_customer[telegram_id]]

    # Of variant B: two press the button; one of them recharges 3 hours later, another
    # customer of B recharges 25 hours later (too late to count).
    of_b = [t for t in ids if planned[ids[t]] == 1]
    for telegram_id in of_b[:2]:
        chat = Chat.of(world.conversation, telegram_id=telegram_id)
        reply = next(r for n, r in outbox.sent if n == telegram_id)
        await chat.press_data(reply.buttons[0][0].data or "")
    await add_order(world.engine, ids[of_b[0]], 10_000, clock.now + timedelta(hours=3))
    await add_order(world.engine, ids[of_b[2]], 10_000, clock.now + timedelta(hours=25))
    report = await world.services.broadcasts.report(broadcast_id)
    assert [(r.variant, r.share, r.delivered, r.pressed, r.recharged) for r in report] == [
        (0, 50, 100, 0, 0),
        (1, 30, 60, 2, 1),
        (2, 20, 40, 0, 0),
    ]
