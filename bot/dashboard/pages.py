"""What each dashboard page shows: its tables (also its CSV and XLSX exports) and its charts,
built from the figures of the domain for one period and, optionally, one campaign."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from domain.figures import HourlySales, Period, PushOutcome, Sales
from domain.holdout import Interval
from domain.languages import Language
from domain.services.dashboard_figures import CampaignChoice
from domain.services.registry import Services
from handlers.features.audit import audit_actor, audit_subject
from handlers.i18n import Texts

Cell = str | int | Decimal | None


def yuan(fen: int | None) -> Decimal | None:
    """An amount in yuan with two decimals (exact: from integer fen)."""
    return None if fen is None else (Decimal(fen) / 100).quantize(Decimal("0.01"))


def share(value: float | None) -> str | None:
    return None if value is None else f"{value * 100:.1f}%"


def duration(value: timedelta | None) -> str | None:
    if value is None:
        return None
    minutes, seconds = divmod(int(value.total_seconds()), 60)
    return f"{minutes}:{seconds:02d}"


@dataclass
class Table:
    key: str
    title: str
    headers: list[str]
    rows: list[list[Cell]]


@dataclass
class Chart:
    key: str
    title: str
    kind: str  # "bar" or "line"
    labels: list[str]
    series: list[tuple[str, list[float | int]]]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "labels": self.labels,
            "series": [{"name": name, "values": values} for name, values in self.series],
        }


@dataclass
class Page:
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Scope:
    """The period and campaign a page is about, and how to show times to its reader."""

    period: Period
    campaign: CampaignChoice | None
    zone: ZoneInfo

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)


PageBuilder = Callable[[Services, Texts, Scope], Awaitable[Page]]


def _sales_rows(t: Texts, now: Sales, before: Sales) -> list[list[Cell]]:
    return [
        [t("dashboard.kpi.recharges"), now.recharges, before.recharges],
        [t("dashboard.kpi.amount"), yuan(now.fen), yuan(before.fen)],
        [t("dashboard.kpi.paying"), now.paying_customers, before.paying_customers],
        [t("dashboard.kpi.arpu"), yuan(now.arpu_fen), yuan(before.arpu_fen)],
        [t("dashboard.kpi.repeat_rate"), share(now.repeat_rate), share(before.repeat_rate)],
    ]


def _by_day(scope: Scope, hours: list[HourlySales], shift: timedelta) -> dict[str, int]:
    """Yuan in fen by local day; `shift` moves the period before onto this one's days."""
    days: dict[str, int] = {}
    for sale in hours:
        key = scope.local(sale.hour + shift).strftime("%m-%d")
        days[key] = days.get(key, 0) + sale.fen
    return days


async def overview(services: Services, t: Texts, scope: Scope) -> Page:
    campaign_id = scope.campaign.id if scope.campaign else None
    figures = await services.figures.overview(scope.period, campaign_id)
    people = Table(
        "customers",
        t("dashboard.customers"),
        [t("dashboard.figure"), t("dashboard.value")],
        [
            [t("dashboard.kpi.reached"), figures.reached],
            [t("dashboard.kpi.started"), figures.started],
            [t("dashboard.kpi.bound"), figures.bound],
            [t("dashboard.kpi.participation"), share(figures.participation_rate)],
        ],
    )
    sales = Table(
        "sales",
        t("dashboard.sales"),
        [t("dashboard.figure"), t("dashboard.this_period"), t("dashboard.period_before")],
        _sales_rows(t, figures.sales, figures.sales_before),
    )
    now = _by_day(scope, figures.by_hour, timedelta(0))
    before = _by_day(scope, figures.by_hour_before, scope.period.length)
    days = sorted(set(now) | set(before))
    by_hour: dict[int, int] = {}
    for sale in figures.by_hour:
        local_hour = scope.local(sale.hour).hour
        by_hour[local_hour] = by_hour.get(local_hour, 0) + sale.count
    return Page(
        tables=[people, sales],
        charts=[
            Chart(
                "sales_by_day",
                t("dashboard.sales_by_day"),
                "bar",
                days,
                [
                    (t("dashboard.this_period"), [float(yuan(now.get(d, 0)) or 0) for d in days]),
                    (
                        t("dashboard.period_before"),
                        [float(yuan(before.get(d, 0)) or 0) for d in days],
                    ),
                ],
            ),
            Chart(
                "recharges_by_hour",
                t("dashboard.recharges_by_hour"),
                "bar",
                [f"{h:02d}" for h in range(24)],
                [(t("dashboard.kpi.recharges"), [by_hour.get(h, 0) for h in range(24)])],
            ),
        ],
        notes=[t("dashboard.note.overview")],
    )


async def funnel(services: Services, t: Texts, scope: Scope) -> Page:
    campaign_id = scope.campaign.id if scope.campaign else None
    figures = await services.figures.funnel(scope.period, campaign_id)
    drops = figures.drops()
    rows: list[list[Cell]] = [
        [t(f"dashboard.funnel.{step.key}"), step.customers, share(drop)]
        for step, drop in zip(figures.steps, drops, strict=True)
    ]
    labels = [t(f"dashboard.funnel.{step.key}") for step in figures.steps]
    return Page(
        tables=[
            Table(
                "funnel",
                t("dashboard.page.funnel"),
                [t("dashboard.step"), t("dashboard.customers_count"), t("dashboard.drop")],
                rows,
            )
        ],
        charts=[
            Chart(
                "funnel",
                t("dashboard.page.funnel"),
                "bar",
                labels,
                [(t("dashboard.customers_count"), [s.customers for s in figures.steps])],
            )
        ],
        notes=[t("dashboard.note.funnel")],
    )


async def offers(services: Services, t: Texts, scope: Scope) -> Page:
    campaign_id = scope.campaign.id if scope.campaign else None
    figures = await services.figures.offers(scope.period, campaign_id)
    per_100 = services.figures.fen_per_100_points
    rows: list[list[Cell]] = []
    charts: list[Chart] = []
    for offer in figures:
        sold_out = (
            scope.local(offer.sold_out_at).strftime("%Y-%m-%d %H:%M") if offer.sold_out_at else None
        )
        rows.append(
            [
                offer.code,
                offer.kind,
                offer.quota,
                offer.used,
                offer.claims,
                yuan(offer.red_packet_fen),
                yuan(offer.cash_back_fen),
                offer.bonus_points,
                yuan(offer.points_fen(per_100)),
                yuan(offer.discount_fen),
                yuan(offer.cost_fen(per_100)),
                offer.coupons_issued,
                share(offer.redemption_rate),
                sold_out,
            ]
        )
        if offer.burn_down:
            charts.append(
                Chart(
                    f"burn_down_{offer.offer_id}",
                    t("dashboard.burn_down", offer=offer.code),
                    "line",
                    [scope.local(h).strftime("%m-%d %H:00") for h, _ in offer.burn_down],
                    [(t("dashboard.slots_left"), [left for _, left in offer.burn_down])],
                )
            )
    table = Table(
        "offers",
        t("dashboard.page.offers"),
        [
            t("dashboard.offer"),
            t("dashboard.offer_kind"),
            t("dashboard.quota"),
            t("dashboard.used"),
            t("dashboard.claims"),
            t("dashboard.cost.red_packets"),
            t("dashboard.cost.cash_back"),
            t("dashboard.cost.bonus_points"),
            t("dashboard.cost.points_value"),
            t("dashboard.cost.discounts"),
            t("dashboard.cost"),
            t("dashboard.coupons_issued"),
            t("dashboard.redemption_rate"),
            t("dashboard.sold_out_at"),
        ],
        rows,
    )
    note = t("dashboard.note.offers", value=yuan(per_100))
    return Page(tables=[table], charts=charts, notes=[note])


async def points(services: Services, t: Texts, scope: Scope) -> Page:
    figures = await services.figures.points(scope.period)
    rows: list[list[Cell]] = [
        [t("dashboard.points.earned"), figures.earned],
        [t("dashboard.points.redeemed"), figures.redeemed],
        [t("dashboard.points.lapsed"), figures.lapsed],
        [t("dashboard.points.liability"), figures.liability],
    ]
    return Page(
        tables=[
            Table(
                "points",
                t("dashboard.page.points"),
                [t("dashboard.figure"), t("dashboard.value")],
                rows,
            )
        ],
        charts=[
            Chart(
                "points",
                t("dashboard.page.points"),
                "bar",
                [str(row[0]) for row in rows],
                [(t("dashboard.points.unit"), [int(row[1] or 0) for row in rows])],  # type: ignore[arg-type]
            )
        ],
        notes=[t("dashboard.note.points")],
    )


async def referrals(services: Services, t: Texts, scope: Scope) -> Page:
    code = scope.campaign.code if scope.campaign else None
    figures = await services.figures.referrals(scope.period, code)
    k = None if figures.k_factor is None else f"{figures.k_factor:.2f}"
    rows: list[list[Cell]] = [
        [t("dashboard.referrals.inviters"), figures.inviters],
        [t("dashboard.referrals.joined"), figures.joined],
        [t("dashboard.referrals.qualified"), figures.qualified],
        [t("dashboard.referrals.held"), figures.held],
        [t("dashboard.referrals.rewards_claimed"), figures.rewards_claimed],
        [t("dashboard.referrals.k_factor"), k],
    ]
    return Page(
        tables=[
            Table(
                "referrals",
                t("dashboard.page.referrals"),
                [t("dashboard.figure"), t("dashboard.value")],
                rows,
            )
        ],
        charts=[
            Chart(
                "referrals",
                t("dashboard.page.referrals"),
                "bar",
                [str(row[0]) for row in rows[:5]],
                [(t("dashboard.customers_count"), [int(row[1] or 0) for row in rows[:5]])],  # type: ignore[arg-type]
            )
        ],
        notes=[t("dashboard.note.referrals")],
    )


async def support(services: Services, t: Texts, scope: Scope) -> Page:
    figures = await services.figures.support(scope.period)
    stats = figures.stats
    csat = None if stats.csat_avg is None else f"{stats.csat_avg:.2f}"
    rows: list[list[Cell]] = [
        [t("dashboard.support.tickets"), stats.tickets],
        [t("dashboard.support.first_response_avg"), duration(stats.first_response_avg)],
        [t("dashboard.support.first_response_p90"), duration(stats.first_response_p90)],
        [t("dashboard.support.resolution_avg"), duration(stats.resolution_avg)],
        [t("dashboard.support.csat"), csat],
        [t("dashboard.support.csat_count"), stats.csat_count],
        [t("dashboard.support.sla_breaches"), figures.sla_breaches],
    ]
    categories = sorted(stats.by_category.items())
    return Page(
        tables=[
            Table(
                "support",
                t("dashboard.page.support"),
                [t("dashboard.figure"), t("dashboard.value")],
                rows,
            ),
            Table(
                "categories",
                t("dashboard.support.by_category"),
                [t("dashboard.support.category"), t("dashboard.support.tickets")],
                [[t(f"support.category.{c.value}"), n] for c, n in categories],
            ),
        ],
        charts=[
            Chart(
                "categories",
                t("dashboard.support.by_category"),
                "bar",
                [t(f"support.category.{c.value}") for c, _ in categories],
                [(t("dashboard.support.tickets"), [n for _, n in categories])],
            )
        ],
    )


def _interval(value: Interval | None, scale: float, unit: str) -> str | None:
    if value is None:
        return None
    low, high = value.low * scale, value.high * scale
    return f"{value.estimate * scale:+.2f}{unit} ({low:+.2f} … {high:+.2f})"


async def holdout(services: Services, t: Texts, scope: Scope) -> Page:
    if scope.campaign is None:
        return Page(notes=[t("dashboard.holdout.choose")])
    found = await services.figures.holdout(scope.period, scope.campaign.id)
    if found is None:
        return Page(notes=[t("dashboard.holdout.none")])
    groups = [
        (t("dashboard.holdout.treated"), found.treated),
        (t("dashboard.holdout.control"), found.control),
    ]
    rows: list[list[Cell]] = [
        [
            name,
            group.customers,
            group.recharged,
            share(group.rate),
            yuan(None if group.fen_per_customer is None else round(group.fen_per_customer)),
        ]
        for name, group in groups
    ]
    rows.append(
        [
            t("dashboard.holdout.uplift"),
            None,
            None,
            _interval(found.rate, 100, "%"),
            _interval(found.fen_per_customer, 0.01, ""),
        ]
    )
    notes = [t("dashboard.holdout.note")]
    if not found.enough:
        notes.insert(0, t("dashboard.holdout.too_small"))
    return Page(
        tables=[
            Table(
                "holdout",
                t("dashboard.page.holdout"),
                [
                    t("dashboard.holdout.group"),
                    t("dashboard.customers_count"),
                    t("dashboard.holdout.recharged"),
                    t("dashboard.holdout.rate"),
                    t("dashboard.holdout.yuan_per_customer"),
                ],
                rows,
            )
        ],
        charts=[
            Chart(
                "holdout",
                t("dashboard.holdout.rate"),
                "bar",
                [name for name, _ in groups],
                [
                    (
                        t("dashboard.holdout.rate"),
                        [round((group.rate or 0) * 100, 2) for _, group in groups],
                    )
                ],
            )
        ],
        notes=notes,
    )


def _push_row(outcome: PushOutcome) -> list[Cell]:
    return [
        outcome.sent,
        outcome.opened,
        share(outcome.open_rate),
        outcome.recharged,
        share(outcome.recharge_rate),
    ]


async def pushes(services: Services, t: Texts, scope: Scope) -> Page:
    """Reminders by campaign and broadcasts one by one: sent, opened, led to a recharge."""
    campaign_id = scope.campaign.id if scope.campaign else None
    figures = await services.figures.pushes(scope.period, campaign_id)
    zh = t.language is Language.ZH_CN
    names = {c.id: (c.name_zh if zh else c.name_en) for c in await services.figures.campaigns()}
    counts = [
        t("dashboard.pushes.sent"),
        t("dashboard.pushes.opened"),
        t("dashboard.pushes.open_rate"),
        t("dashboard.pushes.recharged"),
        t("dashboard.pushes.recharge_rate"),
    ]
    reminders = Table(
        "reminders",
        t("dashboard.pushes.reminders"),
        [t("dashboard.campaign"), *counts],
        [[names.get(r.key, str(r.key)), *_push_row(r)] for r in figures.reminders],
    )
    broadcasts = Table(
        "broadcasts",
        t("dashboard.pushes.broadcasts"),
        [t("dashboard.pushes.broadcast"), t("dashboard.campaign"), *counts],
        [
            [
                _broadcast_name(b.key, figures.broadcast_texts.get(b.key), zh),
                None if b.campaign_id is None else names.get(b.campaign_id, str(b.campaign_id)),
                *_push_row(b),
            ]
            for b in figures.broadcasts
        ],
    )
    steps = counts[0], counts[1], counts[3]

    def totals(outcomes: list[PushOutcome]) -> list[float | int]:
        return [
            sum(o.sent for o in outcomes),
            sum(o.opened for o in outcomes),
            sum(o.recharged for o in outcomes),
        ]

    return Page(
        tables=[reminders, broadcasts],
        charts=[
            Chart(
                "pushes",
                t("dashboard.page.pushes"),
                "bar",
                list(steps),
                [
                    (t("dashboard.pushes.reminders"), totals(figures.reminders)),
                    (t("dashboard.pushes.broadcasts"), totals(figures.broadcasts)),
                ],
            )
        ],
        notes=[t("dashboard.note.pushes")],
    )


def _broadcast_name(broadcast_id: int, text: tuple[str, str] | None, zh: bool) -> str:
    """ "#12 first words of its text" (the staff member's language)."""
    if text is None:
        return f"#{broadcast_id}"
    words = " ".join((text[0] if zh else text[1]).split())
    return f"#{broadcast_id} {words[:30]}{'…' if len(words) > 30 else ''}"


# The audit page lists at most this many records of its period (newest first); its export
# holds the same. Every record: `/audit csv` in the bot.
AUDIT_ROWS = 500


async def audit(services: Services, t: Texts, scope: Scope) -> Page:
    """The audit trail of the period (supervisors only: see SUPERVISORS_ONLY)."""
    period = scope.period
    records = await services.audit.within(period.start, period.end, AUDIT_ROWS)
    table = Table(
        "audit",
        t("dashboard.page.audit"),
        [
            "#",
            t("dashboard.audit.at"),
            t("dashboard.audit.action"),
            t("dashboard.audit.actor"),
            t("dashboard.audit.subject"),
            t("dashboard.audit.detail"),
        ],
        [
            [
                record.id,
                scope.local(record.at).strftime("%Y-%m-%d %H:%M:%S"),
                t(f"audit.action.{record.entry.action.value}"),
                audit_actor(t, record),
                audit_subject(t, record.entry.subject),
                record.entry.detail or None,
            ]
            for record in records
        ],
    )
    return Page(tables=[table], notes=[t("dashboard.note.audit", limit=AUDIT_ROWS)])


PAGES: dict[str, PageBuilder] = {
    "overview": overview,
    "funnel": funnel,
    "offers": offers,
    "points": points,
    "referrals": referrals,
    "support": support,
    "holdout": holdout,
    "pushes": pushes,
    "audit": audit,
}
# Pages only supervisors open (others are refused, and do not see them listed).
SUPERVISORS_ONLY = frozenset({"audit"})
