"""The staff chat's daily digest on SQLite and PostgreSQL: yesterday's figures on a small
hand-made data set with the answer worked out here, sent once a day however many sweeps and
processes run, and its chart a PNG whose bars are the days' yuan.

The digest's day is 5 December 2026 in Beijing time: 4 December 16:00 to 5 December 16:00 UTC.
"""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.figures import DailyDigest, Overview, Period, Sales
from domain.integrations.sandbox import SandboxGateway
from domain.languages import Language
from domain.persistence.support_tables import TicketRow
from domain.persistence.tables import PhoneBindingRow
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.services.registry import Ports, Services, build_services
from domain.tickets import Category
from handlers.charts import BAR, BOTTOM, HEIGHT, HIGHLIGHT, LEFT, RIGHT, TOP, WIDTH
from handlers.contract import Delivery, DeliveryStatus, Picture, Reply
from handlers.features.digest import digest_reply
from handlers.i18n import texts
from handlers.outbound import Settle
from scheduler.digest import DigestSchedule, send_daily_digest
from scheduler.jobs import Schedule, build_scheduler
from scheduler.support import StaffChat as StaffChatPlace
from tests.dashboard.data import add_customer, add_order, put

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 12, 5)
AT_NINE = DigestSchedule(time(9, 0), SHANGHAI, "https://dash.example.com")


def utc(d: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, d, hour, minute, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _services(engine: AsyncEngine, clock: Clock) -> Services:
    return build_services(
        UnitOfWorkFactory.of(engine), clock, ports=Ports(SandboxGateway(timedelta(0), clock), {})
    )


async def _fill(engine: AsyncEngine) -> None:
    a = await add_customer(engine, 1, datetime(2026, 11, 20, tzinfo=UTC), seen=utc(5, 2))
    b = await add_customer(engine, 2, utc(5, 1))  # 09:00 on the 5th in Beijing
    c = await add_customer(engine, 3, utc(5, 15, 30))  # 23:30 on the 5th
    await add_customer(engine, 4, utc(5, 16, 30))  # 00:30 on the 6th: not that day
    e = await add_customer(engine, 5, utc(4, 15))  # 23:00 on the 4th
    await put(
        engine, PhoneBindingRow, customer_id=b, digits="18600000002", carrier="unicom",
        bound_at=utc(5, 1, 5),
    )  # fmt: skip
    # Completed a minute after they were made.
    await add_order(engine, a, 10_000, utc(5, 2))
    await add_order(engine, a, 5_000, utc(5, 10))
    await add_order(engine, b, 3_000, utc(5, 15, 58))  # completed 23:59 Beijing time
    await add_order(engine, c, 2_000, utc(5, 16, 10))  # the 6th in Beijing
    await add_order(engine, e, 4_000, utc(4, 15))  # the 4th (23:00)
    await add_order(engine, e, 6_000, utc(3, 3))  # the 3rd (11:00)
    for customer, created, escalated in ((a, utc(5, 3), utc(5, 4)), (e, utc(4, 10), None)):
        await put(
            engine, TicketRow, customer_id=customer, chat_id=customer,
            category=Category.PAYMENT.value, priority="normal", status="open",
            created_at=created, updated_at=created, escalated_at=escalated,
        )  # fmt: skip


async def test_the_digest_figures_of_a_local_day(engine: AsyncEngine) -> None:
    await _fill(engine)
    services = _services(engine, Clock(utc(6, 1)))  # 09:00 on the 6th in Beijing
    assert services.digests.due(time(9, 0), SHANGHAI) == DAY
    digest = await services.digests.figures(DAY, SHANGHAI)
    overview = digest.overview
    # Reached that day: A (seen), B and C (came); D came the next day, E the day before.
    assert (overview.reached, overview.started, overview.bound) == (3, 2, 1)
    # A's 100 + 50 and B's 30 (C's 20 completed after midnight); the day before, E's 40.
    sales = overview.sales
    assert (sales.recharges, sales.fen, sales.paying_customers, sales.repeat_customers) == (
        3,
        18_000,
        2,
        1,
    )
    assert sales.arpu_fen == 9_000
    assert overview.participation_rate == pytest.approx(2 / 3)
    assert (overview.sales_before.recharges, overview.sales_before.fen) == (1, 4_000)
    assert (digest.tickets, digest.sla_breaches) == (1, 1)
    assert digest.by_day == [
        (date(2026, 11, 29), 0),
        (date(2026, 11, 30), 0),
        (date(2026, 12, 1), 0),
        (date(2026, 12, 2), 0),
        (date(2026, 12, 3), 6_000),
        (date(2026, 12, 4), 4_000),
        (DAY, 18_000),
    ]

    zh = digest_reply(texts(Language.ZH_CN), digest, "https://dash.example.com")
    assert "充值：3 笔，¥180.00（前一日 1 笔，¥40.00）" in zh.text
    assert "新用户：2；触达：3；绑定号码：1；参与率：66.7%" in zh.text
    assert "客服工单：1，超时升级：1" in zh.text
    assert "https://dash.example.com/?period=custom&from=2026-12-05&to=2026-12-05" in zh.text
    en = digest_reply(texts(Language.EN), digest, None)
    assert "Recharges: 3, ¥180.00 (the day before: 1, ¥40.00)" in en.text
    assert "Dashboard" not in en.text


def _bar_heights(png: bytes, bars: int) -> list[int]:
    """How many pixels of bar colour stand in the middle column of each bar."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    slot = (WIDTH - LEFT - RIGHT) / bars
    heights = []
    for index in range(bars):
        x = round(LEFT + slot * index + slot / 2)
        column = [image.getpixel((x, y)) for y in range(TOP, HEIGHT - BOTTOM)]
        heights.append(sum(1 for pixel in column if pixel in (BAR, HIGHLIGHT)))
    return heights


def test_the_digest_chart_is_a_png_of_the_days_yuan() -> None:
    days = [(date(2026, 11, 29) + timedelta(days=n), fen) for n, fen in enumerate(
        [0, 2_500, 5_000, 0, 6_000, 4_000, 10_000]
    )]  # fmt: skip
    digest = DailyDigest(DAY, _empty_overview(), 0, 0, days)
    reply = digest_reply(texts(Language.ZH_CN), digest, None)
    assert isinstance(reply.photo, Picture)
    png = reply.photo.content
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (WIDTH, HEIGHT))
    assert json.loads(image.info["bars"]) == [
        ["11-29", 0],
        ["11-30", 2_500],
        ["12-01", 5_000],
        ["12-02", 0],
        ["12-03", 6_000],
        ["12-04", 4_000],
        ["12-05", 10_000],
    ]
    # The tallest bar fills the plot; the others stand in proportion to their yuan.
    plot = HEIGHT - TOP - BOTTOM
    assert _bar_heights(png, 7) == [
        0,
        plot // 4,
        plot // 2,
        0,
        round(plot * 0.6),
        plot * 2 // 5,
        plot,
    ]
    # The digest's day is the red one.
    rgb = Image.open(io.BytesIO(png)).convert("RGB")
    slot = (WIDTH - LEFT - RIGHT) / 7
    assert rgb.getpixel((round(LEFT + slot * 6.5), HEIGHT - BOTTOM - 2)) == HIGHLIGHT
    assert rgb.getpixel((round(LEFT + slot * 4.5), HEIGHT - BOTTOM - 2)) == BAR


def _empty_overview() -> Overview:
    period = Period(utc(4, 16), utc(5, 16))
    nothing = Sales(0, 0, 0, 0)
    return Overview(period, 0, 0, 0, nothing, nothing, [], [])


@dataclass
class StaffChat:
    """The delivery port as the sweep sees it: what reached the chat, and what it answers."""

    answers: list[DeliveryStatus] = field(default_factory=list)
    sent: list[Reply] = field(default_factory=list)

    async def send(self, chat_id: int, reply: Reply, *, settle: Settle | None = None) -> Delivery:
        status = self.answers.pop(0) if self.answers else DeliveryStatus.SENT
        delivery = (
            Delivery.sent(len(self.sent) + 1)
            if status is DeliveryStatus.SENT
            else Delivery(status, reason="try later")
        )
        if status is DeliveryStatus.SENT:
            self.sent.append(reply)
        if settle is not None and status is not DeliveryStatus.RETRY:
            await settle(delivery)
        return delivery


async def test_the_digest_goes_once_a_day_however_many_sweeps_and_processes(
    engine: AsyncEngine,
) -> None:
    await _fill(engine)
    clock = Clock(utc(6, 0, 59))  # 08:59 on the 6th in Beijing: not yet
    one, other = _services(engine, clock), _services(engine, clock)  # two processes
    chat = StaffChat()
    assert not await send_daily_digest(one, chat, -100, AT_NINE)
    assert chat.sent == []

    clock.now = utc(6, 1, 0)  # 09:00: due; both processes sweep at once, then again
    results = await asyncio.gather(
        send_daily_digest(one, chat, -100, AT_NINE), send_daily_digest(other, chat, -100, AT_NINE)
    )
    assert sorted(results) == [False, True]
    clock.now = utc(6, 9)
    assert not await send_daily_digest(other, chat, -100, AT_NINE)
    assert len(chat.sent) == 1 and "2026-12-05" in chat.sent[0].text

    # The next day: its digest is not delivered at first (Telegram busy), then it is.
    clock.now = utc(7, 1, 30)
    chat.answers = [DeliveryStatus.RETRY]
    assert not await send_daily_digest(one, chat, -100, AT_NINE)
    assert await send_daily_digest(other, chat, -100, AT_NINE)
    assert not await send_daily_digest(one, chat, -100, AT_NINE)
    assert [reply.text.splitlines()[0] for reply in chat.sent] == [
        "📊 每日数据 2026-12-05",
        "📊 每日数据 2026-12-06",
    ]


async def test_a_sender_that_stopped_midway_leaves_the_digest_to_the_next(
    engine: AsyncEngine,
) -> None:
    clock = Clock(utc(6, 1, 0))
    services = _services(engine, clock)
    assert await services.digests.claim(DAY)  # a process took it, and died before sending
    chat = StaffChat()
    assert not await send_daily_digest(services, chat, -100, AT_NINE)
    clock.now += timedelta(minutes=5)  # its claim lapsed
    assert await send_daily_digest(services, chat, -100, AT_NINE)
    assert len(chat.sent) == 1


async def test_the_scheduler_sends_the_digest_only_when_set_and_with_a_staff_chat(
    engine: AsyncEngine,
) -> None:
    services = _services(engine, Clock(utc(6, 1)))
    chat = StaffChat()

    def jobs(digest: DigestSchedule | None, staff_chat_id: int | None) -> set[str]:
        schedule = Schedule(60, 60, digest=digest, staff_chat=StaffChatPlace(staff_chat_id))
        return {job.id for job in build_scheduler(services, schedule, chat, outbox=chat).get_jobs()}

    assert "send_daily_digest" in jobs(AT_NINE, -100)
    assert "send_daily_digest" not in jobs(None, -100)
    assert "send_daily_digest" not in jobs(AT_NINE, None)
