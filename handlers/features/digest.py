"""The staff chat's daily digest: yesterday's figures as a caption, in the staff chat's
language, under a chart of the yuan recharged each day up to it, with the dashboard's link."""

from __future__ import annotations

from urllib.parse import urlencode

from domain.figures import DailyDigest
from domain.money import Money
from handlers.charts import Bar, bar_chart
from handlers.contract import Picture, Reply
from handlers.i18n import Texts

NONE = "—"


def _share(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:.1f}%"


def _yuan(fen: int | None) -> str:
    return NONE if fen is None else Money(fen).format()


def digest_chart(digest: DailyDigest) -> bytes:
    """A PNG of the yuan recharged each day, the digest's day last and in red."""
    bars = [Bar(day.strftime("%m-%d"), fen, f"{fen / 100:.2f}") for day, fen in digest.by_day]
    return bar_chart(bars, highlight_last=True, tick=lambda fen: f"{fen / 100:.0f}")


def dashboard_link(base_url: str, digest: DailyDigest) -> str:
    """The dashboard's overview of the digest's day."""
    day = digest.day.isoformat()
    return f"{base_url.rstrip('/')}/?{urlencode({'period': 'custom', 'from': day, 'to': day})}"


def digest_reply(t: Texts, digest: DailyDigest, dashboard_url: str | None) -> Reply:
    overview = digest.overview
    sales, before = overview.sales, overview.sales_before
    lines = [
        t("digest.title", day=digest.day.isoformat()),
        t(
            "digest.recharges",
            count=sales.recharges,
            amount=_yuan(sales.fen),
            before_count=before.recharges,
            before_amount=_yuan(before.fen),
        ),
        t(
            "digest.paying",
            paying=sales.paying_customers,
            arpu=_yuan(sales.arpu_fen),
            repeat=_share(sales.repeat_rate),
        ),
        t(
            "digest.customers",
            started=overview.started,
            reached=overview.reached,
            bound=overview.bound,
            rate=_share(overview.participation_rate),
        ),
        t("digest.tickets", tickets=digest.tickets, breaches=digest.sla_breaches),
        t(
            "digest.chart",
            first=digest.by_day[0][0].strftime("%m-%d") if digest.by_day else "",
            day=digest.day.strftime("%m-%d"),
        ),
    ]
    if dashboard_url:
        lines.append(t("digest.link", url=dashboard_link(dashboard_url, digest)))
    picture = Picture(digest_chart(digest), f"digest-{digest.day.isoformat()}.png")
    return Reply("\n".join(lines), photo=picture)
