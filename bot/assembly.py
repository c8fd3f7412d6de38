"""Builds the running product from settings: database, services, conversation, outbound port."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dashboard.metrics import BotMetrics
from bot.delivery_port import DeliveryLimits, DeliveryPort
from bot.outbound import OutboundPort
from bot.settings import Settings
from domain.clock import Clock, utc_now
from domain.integrations.http_gateway import GatewaySettings, HttpTopUpGateway
from domain.integrations.sandbox import SandboxGateway, SandboxPayments
from domain.money import Money
from domain.orders import Order, PaymentMethod, RechargeLimits
from domain.persistence.chat_turns import PostgresChatTurns
from domain.persistence.database import PoolBudget, create_engine, is_sqlite
from domain.persistence.migrate import upgrade
from domain.persistence.outbound_limits import PostgresOutboundLimiter, SharedLimits
from domain.persistence.unit_of_work import UnitOfWorkFactory
from domain.pin import PinRules
from domain.ports import PaymentProvider, TopUpGateway, TopUpResult
from domain.reminders import QuietHours
from domain.risk import DEFAULT_ACTIONS, RiskRules
from domain.services.broadcasts import BroadcastConfig
from domain.services.loyalty import LoyaltyConfig
from domain.services.recharge import RechargeConfig
from domain.services.registry import Ports, Services, build_services
from domain.services.reminders import ReminderConfig
from domain.services.support import SupportConfig
from handlers.conversation import build_conversation
from handlers.router import ConversationRouter

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    services: Services
    conversation: ConversationRouter
    ports: Ports
    # Messages that nobody just asked for (sweeps, later staff alerts) leave through here.
    outbound: OutboundPort = field(default_factory=OutboundPort)
    # Several webhook workers on PostgreSQL: Telegram's limits kept by every process together
    # for what nobody just asked for (sweeps, staff alerts); None with one process.
    outbound_limiter: PostgresOutboundLimiter | None = None
    # What happens, counted for /metrics (the services and the delivery port tell it).
    metrics: BotMetrics = field(default_factory=lambda: BotMetrics("none"))
    # ...within Telegram's limits, with retries: every sweep sends through this one port.
    delivery: DeliveryPort = field(init=False)

    def __post_init__(self) -> None:
        self.delivery = DeliveryPort(
            self.outbound,
            delivery_limits(self.settings),
            shared=self.outbound_limiter,
            observed=self.metrics,
        )

    async def close(self) -> None:
        # Receipts sent whose record the database has not taken yet: a last try.
        await self.services.outcomes.records.close()
        if isinstance(self.ports.gateway, HttpTopUpGateway):
            await self.ports.gateway.close()
        await self.engine.dispose()


def delivery_limits(settings: Settings) -> DeliveryLimits:
    return DeliveryLimits(
        global_per_second=settings.delivery_global_per_second,
        chat_per_second=settings.delivery_chat_per_second,
        group_per_minute=settings.delivery_group_per_minute,
        max_attempts=settings.delivery_max_attempts,
        retry_seconds=settings.delivery_retry_seconds,
        paid_per_second=max(
            settings.broadcast_paid_per_second, settings.delivery_global_per_second
        ),
    )


def reminder_config(settings: Settings) -> ReminderConfig:
    return ReminderConfig(
        quiet_hours=QuietHours.parse(settings.quiet_hours),
        timezone=settings.reminder_timezone,
        claim_seconds=settings.delivery_claim_seconds,
    )


def broadcast_config(settings: Settings) -> BroadcastConfig:
    return BroadcastConfig(
        daily_cap=settings.broadcast_daily_cap,
        quiet_hours=QuietHours.parse(settings.quiet_hours),
        timezone=settings.reminder_timezone,
        claim_seconds=settings.delivery_claim_seconds,
        consent_required=settings.privacy_consent_required,
        paid_allowed=settings.broadcast_paid_allowed,
        paid_per_second=settings.broadcast_paid_per_second,
        paid_stars=settings.broadcast_paid_stars,
    )


def recharge_config(settings: Settings) -> RechargeConfig:
    return RechargeConfig(
        limits=RechargeLimits(
            minimum=Money(settings.recharge_min_fen),
            maximum=Money(settings.recharge_max_fen),
            daily=Money(settings.recharge_daily_fen),
        ),
        payment_window=timedelta(minutes=settings.payment_window_minutes),
        recheck_after=timedelta(seconds=settings.order_recheck_seconds),
        methods=settings.offered_payment_methods,
        served_carriers=settings.served_carriers,
    )


class NoCarrierGateway:
    """No carrier gateway is configured (no GATEWAY_URL, no demo mode): nothing is topped up.

    `python -m bot run` refuses to start in that configuration; the other commands (campaigns,
    staff roles, seed data) never top up, so they run with this one.
    """

    async def submit(self, order: Order) -> TopUpResult:
        raise RuntimeError(NO_GATEWAY)

    async def status(self, order: Order) -> TopUpResult:
        raise RuntimeError(NO_GATEWAY)


NO_GATEWAY = "no carrier gateway is configured (GATEWAY_URL, or DEMO_MODE=true)"


def build_ports(settings: Settings, clock: Clock = utc_now) -> Ports:
    """The real gateway when GATEWAY_URL is set; the sandboxes only in demo mode."""
    gateway: TopUpGateway
    if settings.gateway_url:
        api_key = settings.gateway_api_key.get_secret_value() if settings.gateway_api_key else ""
        gateway = HttpTopUpGateway(
            GatewaySettings(settings.gateway_url, api_key, settings.gateway_timeout_seconds)
        )
    elif settings.sandbox_gateway:
        gateway = SandboxGateway(timedelta(seconds=settings.sandbox_topup_delay_seconds), clock)
    else:
        gateway = NoCarrierGateway()
    providers: dict[PaymentMethod, PaymentProvider] = {}
    if PaymentMethod.SANDBOX in settings.offered_payment_methods:
        providers[PaymentMethod.SANDBOX] = SandboxPayments(mode=settings.sandbox_payment_mode)
    return Ports(gateway=gateway, providers=providers)


def risk_rules(settings: Settings) -> RiskRules:
    return RiskRules(
        orders_per_hour=settings.risk_orders_per_hour,
        orders_per_day=settings.risk_orders_per_day,
        amount_per_hour_fen=settings.risk_amount_per_hour_fen,
        numbers_per_day=settings.risk_numbers_per_day,
        declines_in_a_row=settings.risk_declines_in_a_row,
        new_account_large_fen=settings.risk_new_account_large_fen,
        new_account_window=timedelta(minutes=settings.risk_new_account_minutes),
        accounts_per_number=settings.risk_accounts_per_number,
        coupon_guesses=settings.risk_coupon_guesses,
        coupon_window=timedelta(minutes=settings.risk_coupon_window_minutes),
        actions={**DEFAULT_ACTIONS, **settings.risk_actions},
        enabled=settings.risk_rules_enabled,
        two_person_fen=settings.risk_two_person_fen,
    )


def pin_rules(settings: Settings) -> PinRules:
    return PinRules(
        wallet_threshold_fen=settings.pin_wallet_threshold_fen,
        unverified_threshold_fen=settings.pin_unverified_threshold_fen,
        redeem_threshold_points=settings.pin_redeem_threshold_points,
        max_wrong=settings.pin_max_wrong,
        lock=timedelta(minutes=settings.pin_lock_minutes),
        reset_delay=timedelta(minutes=settings.pin_reset_delay_minutes),
    )


def support_config(settings: Settings) -> SupportConfig:
    return SupportConfig(
        first_response=timedelta(minutes=settings.support_first_response_minutes),
        auto_close=timedelta(hours=settings.support_auto_close_hours),
        flood_messages=settings.support_flood_messages,
        flood_window=timedelta(minutes=settings.support_flood_window_minutes),
        staff_language=settings.staff_chat_language,
    )


async def build_app(
    settings: Settings, *, migrate: bool = True, clock: Clock = utc_now, ports: Ports | None = None
) -> App:
    """Everything a front end needs, with the database brought up to date first."""
    engine = create_engine(
        settings.database_url,
        pool=PoolBudget(
            settings.database_pool_size,
            settings.database_max_overflow,
            settings.database_pool_timeout_seconds,
        ),
    )
    if migrate:
        await upgrade(engine)
    ports = ports or build_ports(settings, clock)
    metrics = BotMetrics(settings.chosen_frontend.value)
    services = build_services(
        unit_of_work_factory(settings, engine),
        clock,
        recharge=recharge_config(settings),
        ports=ports,
        loyalty=LoyaltyConfig(points_per_yuan=settings.points_per_yuan),
        admin_ids=settings.admin_ids,
        support=support_config(settings),
        reminders=reminder_config(settings),
        broadcasts=broadcast_config(settings),
        risk=risk_rules(settings),
        pin=pin_rules(settings),
        consent_required=settings.privacy_consent_required,
        export_every=timedelta(minutes=settings.privacy_export_every_minutes),
        observed=metrics,
    )
    conversation = build_conversation(services)
    conversation.bot_username = settings.bot_username
    services.broadcasts.bot_username = settings.bot_username
    services.figures.fen_per_100_points = settings.points_value_fen_per_100
    conversation.staff_chat_id = settings.staff_chat_id
    conversation.dashboard_url = settings.dashboard_base_url
    return App(
        settings,
        engine,
        services,
        conversation,
        ports,
        outbound_limiter=shared_outbound_limiter(settings, engine),
        metrics=metrics,
    )


def several_processes(settings: Settings) -> bool:
    """Webhook workers on PostgreSQL: the one set-up where several processes serve one bot."""
    return settings.webhook_url is not None and not is_sqlite(settings.database_url)


def shared_outbound_limiter(
    settings: Settings, engine: AsyncEngine
) -> PostgresOutboundLimiter | None:
    """Telegram's limits for unasked messages, kept by every process together (None: one)."""
    if not several_processes(settings):
        return None
    return PostgresOutboundLimiter(
        engine,
        SharedLimits(
            global_per_second=settings.delivery_global_per_second,
            chat_per_second=settings.delivery_chat_per_second,
            group_per_minute=settings.delivery_group_per_minute,
            paid_per_second=max(
                settings.broadcast_paid_per_second, settings.delivery_global_per_second
            ),
        ),
    )


def shared_chat_turns(app: App) -> PostgresChatTurns | None:
    """Per-chat turns across processes for webhook workers on PostgreSQL; None otherwise (one
    process: SQLite, or polling, which only one process may do)."""
    settings = app.settings
    if not several_processes(settings):
        return None
    return PostgresChatTurns(
        app.engine,
        wait_seconds=settings.chat_turn_wait_seconds,
        concurrent=chat_turn_places(settings),
    )


# Connections a process uses outside units of work and chat turns, one or so at a time each:
# a readiness probe, the record of updates waiting for their turn, the shared outbound limits.
CONNECTIONS_FOR_SINGLE_STATEMENTS = 2


def chat_turn_places(settings: Settings) -> int:
    """How many chat turns one process holds at once (each holds a connection for its lock,
    and its units of work run on it): the pool less the single statements' connections and a
    quarter of the rest, which stays for units of work outside turns (sweeps, the carrier's
    callbacks); none where turns are not shared."""
    if not several_processes(settings):
        return 0
    shared = settings.database_pool_size + settings.database_max_overflow
    shared -= CONNECTIONS_FOR_SINGLE_STATEMENTS
    return max(1, shared - shared // 4)


def unit_of_work_factory(settings: Settings, engine: AsyncEngine) -> UnitOfWorkFactory:
    """Units of work whose gate leaves the chat turns' share and the single statements'
    connections to them, so that a unit let through always finds a connection free; PostgreSQL's
    burst connections (`DATABASE_MAX_OVERFLOW`) count for the units too (SQLite keeps its own)."""
    overflow = 0 if is_sqlite(settings.database_url) else settings.database_max_overflow
    return UnitOfWorkFactory(
        engine,
        set_aside=chat_turn_places(settings) + CONNECTIONS_FOR_SINGLE_STATEMENTS,
        overflow=overflow,
    )


def settle_long_lived_objects() -> None:
    """Once everything lasting is built (modules, the app, the front end's classes): set what
    exists now aside from the garbage collector. Its full passes then walk only what was made
    since, so none holds the event loop for long (one walking every object of a started bot
    held it for 60-90 ms in the middle of a sweep)."""
    gc.collect()
    gc.freeze()


async def until_stop_signal() -> None:
    """Wait for SIGINT or SIGTERM (where signals can be caught); cancellation also ends it."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # Windows, or not the main thread: cancellation still stops the bot
        installed.append(signum)
    try:
        await stop.wait()
        log.info("stop signal received")
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
