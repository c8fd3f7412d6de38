"""Random sequences of updates from three customers through the conversation router, on a real
SQLite database: commands with any arguments, texts of any length and script (emoji,
right-to-left, control characters), contacts (their own and someone else's), buttons taken from
OTHER customers' screens, forged and stale button data, forged payments, replays.

After every step: no exception escaped into the "something went wrong" answer; every reply went
to the chat that asked; nobody was shown another customer's number or name they did not type
themselves; nobody's orders, tickets, rewards, numbers, wallet or points changed but the
sender's; and every wallet and points balance equals the sum of its ledger.

`FUZZ_EXAMPLES=500 pytest tests/fuzz` runs a longer search than the suite's bounded one.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.assembly import App, build_app
from domain.customers import TelegramProfile
from domain.languages import Language
from domain.persistence.referral_tables import ReferralRewardRow
from domain.persistence.support_tables import TicketRow
from domain.persistence.tables import (
    CustomerRow,
    OrderRow,
    PhoneBindingRow,
    PointsBalanceRow,
    PointsEntryRow,
    RewardCouponRow,
    WalletEntryRow,
    WalletRow,
)
from domain.phone import mask
from handlers.contract import (
    Incoming,
    button_event,
    contact_event,
    message_event,
    payment_event,
    pre_checkout_event,
)
from handlers.i18n import texts
from tests.conftest import make_settings
from tests.conftest import migrated_sqlite_template as _migrated_template

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
STEPS = int(os.environ.get("FUZZ_STEPS", "12"))

# Three customers: Telegram id, name, language, their own number.
PEOPLE = (
    (8_100_000_001, "Alice", "en", "18612345678"),
    (8_200_000_002, "Bogdan", "zh-hans", "13987654321"),
    (8_300_000_003, "Chidi", "en", "15011112222"),
)
NUMBERS = (*(p[3] for p in PEOPLE), "13800138000", "19912345678")
INTERNAL_ERRORS = {texts(language)("error.internal") for language in Language}
DIGITS = re.compile(r"\d+")


# -- what a step may be ----------------------------------------------------------------------
WEIRD = st.sampled_from(
    [
        "\u202e8765 4321 931\u202c",  # right-to-left override around a number
        "مرحبا 充值 50",
        "🧧🧧🧧 /start 🧧",
        "\x00\x07\x1b[31m",
        "  ",
        "a" * 4096,
        "五十",
        "50元",
        "+86 139-8765-4321",
        "１８６１２３４５６７８",
        "/start ref_ZZZZ",
        "积分",
        "客服",
        "0",
        "1",
    ]
)
TEXT = st.one_of(WEIRD, st.text(min_size=1, max_size=300))
COMMANDS = st.sampled_from(
    [
        "start",
        "recharge",
        "orders",
        "wallet",
        "points",
        "phones",
        "bind",
        "feedback",
        "invite",
        "reminders",
        "offers",
        "privacy",
        "export_my_data",
        "delete_my_data",
        "pin",
        "language",
        "notifications",
        "timezone",
        "help",
        "cancel",
        "ticket",
        "answer",
        "tickets",
        "audit",
        "risk",
        "nonsense",
    ]
)
WHO = st.integers(min_value=0, max_value=len(PEOPLE) - 1)


@dataclass(frozen=True)
class Step:
    kind: str
    who: int
    text: str = ""
    other: int = 0
    index: int = 0
    number: int = 0


STEP = st.one_of(
    st.builds(Step, kind=st.just("text"), who=WHO, text=TEXT),
    st.builds(
        Step,
        kind=st.just("command"),
        who=WHO,
        text=st.tuples(COMMANDS, st.one_of(st.just(""), TEXT)).map(lambda c: f"/{c[0]} {c[1]}"),
    ),
    st.builds(
        Step,
        kind=st.just("contact"),
        who=WHO,
        text=st.sampled_from(NUMBERS),
        other=st.integers(min_value=-1, max_value=len(PEOPLE) - 1),
    ),
    st.builds(Step, kind=st.just("own_button"), who=WHO, index=st.integers(0, 20)),
    st.builds(Step, kind=st.just("their_button"), who=WHO, other=WHO, index=st.integers(0, 20)),
    st.builds(
        Step,
        kind=st.just("forged_button"),
        who=WHO,
        other=WHO,
        index=st.integers(0, 20),
        number=st.integers(min_value=-5, max_value=2**40),
    ),
    st.builds(Step, kind=st.just("raw_button"), who=WHO, text=st.text(max_size=80)),
    st.builds(
        Step,
        kind=st.just("payment"),
        who=WHO,
        number=st.integers(min_value=0, max_value=12),
        index=st.sampled_from([100, 3000, 5000, 10000]),
        text=st.sampled_from(["charge-1", "charge-2", "charge-3"]),
    ),
    st.builds(Step, kind=st.just("replay"), who=WHO),
)


# -- the world and what must hold -------------------------------------------------------------
@dataclass
class Person:
    profile: TelegramProfile
    number: str
    typed: list[str] = field(default_factory=list)  # everything they sent, to allow echoes
    buttons: list[str] = field(default_factory=list)  # data of their last screen's buttons
    last: Incoming | None = None

    @property
    def chat_id(self) -> int:
        return self.profile.telegram_id


async def _snapshot(app: App, telegram_id: int) -> tuple[Any, ...]:
    """Everything of the customer that another customer's update must never change."""
    async with app.engine.connect() as db:
        customer = await db.scalar(
            select(CustomerRow.id).where(CustomerRow.telegram_id == telegram_id)
        )
        if customer is None:
            return (None,)

        async def rows(*columns: Any, where: Any, order: Any) -> list[tuple[Any, ...]]:
            result = await db.execute(select(*columns).where(where).order_by(order))
            return [tuple(row) for row in result]

        return (
            customer,
            await rows(
                OrderRow.id,
                OrderRow.status,
                OrderRow.amount_fen,
                OrderRow.phone_digits,
                where=OrderRow.customer_id == customer,
                order=OrderRow.id,
            ),
            await rows(
                PhoneBindingRow.digits,
                where=PhoneBindingRow.customer_id == customer,
                order=PhoneBindingRow.id,
            ),
            await rows(
                TicketRow.id,
                TicketRow.status,
                where=TicketRow.customer_id == customer,
                order=TicketRow.id,
            ),
            await rows(
                ReferralRewardRow.id,
                ReferralRewardRow.status,
                where=ReferralRewardRow.customer_id == customer,
                order=ReferralRewardRow.id,
            ),
            await rows(
                RewardCouponRow.id,
                RewardCouponRow.order_id,
                where=RewardCouponRow.customer_id == customer,
                order=RewardCouponRow.id,
            ),
            await db.scalar(select(WalletRow.balance_fen).where(WalletRow.customer_id == customer)),
            await db.scalar(
                select(PointsBalanceRow.points).where(PointsBalanceRow.customer_id == customer)
            ),
        )


async def _ledgers_balance(app: App) -> None:
    async with app.engine.connect() as db:
        wallets = dict(
            (await db.execute(select(WalletRow.customer_id, WalletRow.balance_fen))).all()
        )
        entries = dict(
            (
                await db.execute(
                    select(
                        WalletEntryRow.customer_id, func.sum(WalletEntryRow.amount_fen)
                    ).group_by(WalletEntryRow.customer_id)
                )
            ).all()
        )
        for customer, balance in wallets.items():
            assert balance == (entries.get(customer) or 0), f"wallet of customer {customer}"
            assert balance >= 0
        points = dict(
            (await db.execute(select(PointsBalanceRow.customer_id, PointsBalanceRow.points))).all()
        )
        earned = dict(
            (
                await db.execute(
                    select(PointsEntryRow.customer_id, func.sum(PointsEntryRow.points)).group_by(
                        PointsEntryRow.customer_id
                    )
                )
            ).all()
        )
        for customer, balance in points.items():
            assert balance == (earned.get(customer) or 0), f"points of customer {customer}"


def _forged(data: str, number: int) -> str:
    """Button data with its ids changed: another id, out of range, negative."""
    return DIGITS.sub(str(number), data, count=1) if DIGITS.search(data) else f"{data}:{number}"


def _event(step: Step, me: Person, people: list[Person]) -> Incoming | None:
    other = people[step.other] if step.other >= 0 else None
    if step.kind in ("text", "command"):
        return message_event(me.profile, me.chat_id, step.text, message_id=len(me.typed) + 1)
    if step.kind == "contact":
        owner = other.chat_id if other is not None else None
        return contact_event(me.profile, me.chat_id, f"+86{step.text}", contact_user_id=owner)
    if step.kind == "own_button" and me.buttons:
        data = me.buttons[step.index % len(me.buttons)]
        return button_event(me.profile, me.chat_id, data, callback_id="cb", message_id=7)
    if step.kind in ("their_button", "forged_button") and other is not None and other.buttons:
        data = other.buttons[step.index % len(other.buttons)]
        if step.kind == "forged_button":
            data = _forged(data, step.number)
        return button_event(me.profile, me.chat_id, data, callback_id="cb", message_id=7)
    if step.kind == "raw_button":
        return button_event(me.profile, me.chat_id, step.text, callback_id="cb", message_id=7)
    if step.kind == "payment":
        payload = f"order:{step.number}"
        if step.index % 2:
            return pre_checkout_event(me.profile, "q", payload, "CNY", step.index)
        return payment_event(me.profile, me.chat_id, payload, "CNY", step.index, step.text)
    if step.kind == "replay":
        return me.last
    return None


def _typed(event: Incoming) -> str:
    return " ".join(part or "" for part in (event.text, event.contact_phone, event.button_data))


async def _run(steps: list[Step], template: Path) -> None:
    folder = tempfile.TemporaryDirectory()
    database = Path(folder.name) / "fuzz.db"
    shutil.copyfile(template, database)
    app = await build_app(
        make_settings(
            f"sqlite+aiosqlite:///{database}",
            demo_mode=True,
            sandbox_topup_delay_seconds=0,
            privacy_export_every_minutes=1,
        ),
        migrate=False,
    )
    router = app.conversation
    people = [
        Person(TelegramProfile(tid, name, None, None, language), number)
        for tid, name, language, number in PEOPLE
    ]
    try:
        for me in people:  # each starts with a bound number and ¥100 in the wallet
            for text in ("/start", f"/bind {me.number}", "/wallet"):
                outcome = await router.handle(message_event(me.profile, me.chat_id, text))
            me.typed.append(me.number)
            wallet = [b.data for r in outcome.replies for row in r.buttons for b in row]
            top_up = (
                next(b for b in wallet if b and "100" in b)
                if any(b and "100" in b for b in wallet)
                else None
            )
            if top_up is not None:
                outcome = await router.handle(
                    button_event(me.profile, me.chat_id, top_up, callback_id="c")
                )
                pay = [b.data for r in outcome.replies for row in r.buttons for b in row]
                if pay and pay[0]:
                    await router.handle(
                        button_event(me.profile, me.chat_id, pay[0], callback_id="c")
                    )

        for step in steps:
            me = people[step.who]
            event = _event(step, me, people)
            if event is None:
                continue
            others = [p for p in people if p is not me]
            before = [await _snapshot(app, p.chat_id) for p in others]
            outcome = await router.handle(event)
            for then in outcome.after_delivery:
                await then()
            me.last = event
            me.typed.append(_typed(event))
            typed = " ".join(me.typed)
            # A number they typed in any form (+86, dashes, full-width digits) is theirs to see.
            typed_digits = "".join(DIGITS.findall(unicodedata.normalize("NFKC", typed)))

            shown = [reply.text for reply in outcome.replies] + [outcome.notice or ""]
            shown += [b.text for r in outcome.replies for row in r.buttons for b in row]
            for text in shown:
                assert text not in INTERNAL_ERRORS, f"{step}: an exception inside the turn"
                for other in others:
                    for secret in (
                        mask(other.number),
                        other.number,
                        other.profile.first_name or "",
                    ):
                        if secret in text:
                            assert (
                                secret in typed
                                or mask(other.number) in typed
                                or other.number in typed_digits
                            ), f"{step}: {me.profile.first_name} was shown {secret!r}"
            for reply in outcome.replies:
                assert reply.chat_id in (None, me.chat_id), f"{step}: a reply to another chat"
            after = [await _snapshot(app, p.chat_id) for p in others]
            assert after == before, f"{step}: another customer's data changed"
            await _ledgers_balance(app)
            buttons = [b.data for r in outcome.replies for row in r.buttons for b in row if b.data]
            if buttons:
                me.buttons = buttons
    finally:
        await app.close()
        folder.cleanup()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(STEP, min_size=1, max_size=STEPS))
def test_random_updates_from_three_customers_keep_each_to_their_own(steps: list[Step]) -> None:
    template = _migrated_template()
    asyncio.run(_run(steps, template))
