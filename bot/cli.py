"""Command line: `python -m bot run | migrate | seed-demo | campaigns load | staff grant |
staff link | dashboard`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ValidationError

from bot.assembly import (
    App,
    build_app,
    settle_long_lived_objects,
    several_processes,
    until_stop_signal,
)
from bot.carrier_callback import start_carrier_callback
from bot.dashboard.server import DashboardDeps, start_dashboard
from bot.delivery_port import LeaseFence
from bot.log_format import LogFormat
from bot.log_format import formatter as log_formatter
from bot.log_redaction import install_redaction, settings_secrets
from bot.settings import Frontend, Settings, settings_problems
from domain.campaign_file import (
    MAX_FILE_BYTES,
    CampaignFile,
    CampaignFileError,
    parse_campaign_file,
    read_campaign_file,
)
from domain.customers import TelegramProfile
from domain.persistence.database import create_engine
from domain.persistence.migrate import current_revision, upgrade
from domain.phone import parse_phone_number
from domain.services.campaign_catalogue import LoadReport
from domain.services.customers import PhoneAlreadyBound
from domain.services.dashboard_access import NotStaff
from domain.services.staff import StaffRole
from handlers.features.dashboard import sign_in_url
from scheduler.digest import DigestSchedule
from scheduler.jobs import Schedule, build_scheduler
from scheduler.reminders import SchedulerLease
from scheduler.support import StaffChat

log = logging.getLogger("bot")

DEMO_NUMBERS = ("18612345678", "13800138000")
# How long a sweep under way at shutdown may take to finish before it is cancelled.
SWEEP_GRACE_SECONDS = 30.0
# The console's log file, and the bot name its invite links use when BOT_USERNAME is unset.
CONSOLE_LOG = Path("var") / "bot.log"
PLACEHOLDER_BOT_USERNAME = "your_wallet_bot"
DEMO_CAMPAIGNS = Path(__file__).parent / "demo" / "unicom_wallet_campaign.toml"


async def run(settings: Settings) -> None:
    app = await build_app(settings)
    schedule = Schedule(
        settings.conversation_idle_seconds,
        settings.housekeeping_interval_seconds,
        settings.order_sweep_seconds,
        points_warn_days=settings.points_warn_days,
        referral_sweep_seconds=settings.referral_sweep_seconds,
        risk_sweep_seconds=settings.risk_sweep_seconds,
        support_relay_seconds=settings.support_relay_seconds,
        support_sla_seconds=settings.support_sla_sweep_seconds,
        staff_chat=StaffChat(settings.staff_chat_id, settings.staff_chat_is_forum),
        reminder_sweep_seconds=settings.reminder_sweep_seconds,
        scheduler_lease_seconds=settings.scheduler_lease_seconds,
        broadcast_sweep_seconds=settings.broadcast_sweep_seconds,
        privacy_retention_days=settings.privacy_retention_days,
        privacy_retention_sweep_seconds=settings.privacy_retention_sweep_seconds,
        digest=(
            None
            if settings.digest_time is None
            else DigestSchedule(
                settings.digest_time,
                ZoneInfo(settings.reminder_timezone),
                settings.dashboard_base_url,
            )
        ),
    )
    if settings.staff_chat_id is None:
        log.warning(
            "no staff chat is set (STAFF_CHAT_ID): tickets and referral alerts are posted to no "
            "chat; staff see tickets with /tickets and /ticket N and answer with /answer N TEXT, "
            "and supervisors still get overdue tickets privately"
        )
    lease = SchedulerLease(app.services, settings.scheduler_lease_seconds, observed=app.metrics)
    if several_processes(settings):
        # A holder paused past its lease sends none of the sweeps' messages once it resumes.
        app.delivery.fence = LeaseFence(lease.held)
    scheduler = build_scheduler(
        app.services, schedule, app.delivery, outbox=app.delivery, lease=lease
    )
    scheduler.start()
    callbacks = await _carrier_callbacks(app)
    dashboard = await start_dashboard_of(app, app.settings.chosen_frontend.value)
    # What start-up made is never garbage: full collections skip it (no 100 ms pauses).
    gc.freeze()
    try:
        await run_frontend(app)
    finally:
        if callbacks is not None:
            await callbacks.cleanup()
        if dashboard is not None:
            await dashboard.cleanup()
        # No new sweep starts; those under way finish (or are cancelled after the grace time)
        # before the scheduler shuts down, which would otherwise cancel them mid-statement.
        scheduler.pause()
        await finish_running_sweeps()
        scheduler.shutdown(wait=False)
        await lease.release()  # a restart sweeps at once (receipts, reminders, support)
        await app.close()


async def _carrier_callbacks(app: App) -> web.AppRunner | None:
    """The carrier gateway's callback server, when one is configured."""
    listen, secret = app.settings.gateway_callback_host_port, app.settings.gateway_callback_secret
    if listen is None or secret is None:
        return None
    host, port = listen
    return await start_carrier_callback(
        app.services.fulfilment, secret.get_secret_value(), host, port
    )


async def start_dashboard_of(app: App, frontend: str) -> web.AppRunner | None:
    """The dashboard and /metrics at DASHBOARD_LISTEN (None: off, or the address is taken).
    Its /readyz counts the front end `frontend` ready once it runs and takes the outbound
    port's messages; "none" (the dashboard served alone) has no front end to check."""
    listen = app.settings.dashboard_host_port
    if listen is None:
        return None
    metrics = app.metrics
    metrics.frontend = frontend
    app.conversation.observers.append(metrics.handled)
    deps = DashboardDeps(
        app.services,
        app.engine,
        metrics,
        secure_cookie=(app.settings.dashboard_base_url or "").startswith("https://"),
        zone=ZoneInfo(app.settings.reminder_timezone),
        refresh_seconds=app.settings.dashboard_refresh_seconds,
        outbound=app.delivery,
        frontend_ready=None if frontend == "none" else lambda: app.outbound.attached,
    )
    return await start_dashboard(deps, *listen)


async def serve_dashboard(settings: Settings) -> int:
    """`python -m bot dashboard`: the dashboard alone, until SIGINT or SIGTERM."""
    from bot.aiogram import Sender, build_bot

    app = await build_app(settings)
    # Staff's test pushes from the broadcast page go out through the Bot API (no updates read).
    bot = build_bot(settings) if settings.token else None
    if bot is not None:
        app.outbound.attach(Sender(bot))
    try:
        runner = await start_dashboard_of(app, "none")
        if runner is None:
            log.error("the dashboard is off or its address is taken (DASHBOARD_LISTEN)")
            return 2
        try:
            await until_stop_signal()
        finally:
            await runner.cleanup()
    finally:
        if bot is not None:
            await bot.session.close()
        await app.close()
    return 0


async def staff_link(settings: Settings, telegram_id: int) -> str:
    """A single-use dashboard sign-in link for a staff member (NotStaff for anybody else)."""
    app = await build_app(settings)
    try:
        token = await app.services.dashboard.issue_link(telegram_id)
    finally:
        await app.close()
    return sign_in_url(settings.dashboard_base_url or "http://127.0.0.1:8081", token)


async def finish_running_sweeps() -> None:
    """Let sweeps already under way end before the database closes under them (a sweep cut
    off with a connection checked out would keep the process from exiting)."""
    running = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    if running:
        _, late = await asyncio.wait(running, timeout=SWEEP_GRACE_SECONDS)
        for task in late:
            task.cancel()


def console_logging(level: str, kind: LogFormat = LogFormat.TEXT) -> None:
    """The console is a conversation in the terminal: log lines go to var/bot.log (times in
    Beijing time, as the chat shows them), and only warnings and errors to the terminal too."""
    formatter = log_formatter(kind, "%(asctime)s+08:00 %(levelname)s %(name)s: %(message)s")
    formatter.converter = _beijing_time
    Path(CONSOLE_LOG).parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(CONSOLE_LOG, encoding="utf-8")
    to_file.setFormatter(formatter)
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.setFormatter(formatter)
    to_terminal.setLevel(logging.WARNING)
    logging.basicConfig(level=level, handlers=[to_file, to_terminal])


def _beijing_time(seconds: float | None) -> time.struct_time:
    return time.gmtime((seconds or time.time()) + 8 * 3600)


async def run_frontend(app: App) -> None:
    frontend = app.settings.chosen_frontend
    log.info("starting the %s front end", frontend.value)
    if frontend is Frontend.CONSOLE:
        from bot.console import ConsoleFrontend

        user = TelegramProfile(
            telegram_id=app.settings.console_user_id,
            first_name="Console",
            language_code=app.settings.console_language,
        )
        # Invite links need the bot's name; the console has no Telegram to ask for it.
        app.conversation.bot_username = app.conversation.bot_username or PLACEHOLDER_BOT_USERNAME
        console = ConsoleFrontend(app.conversation, user)
        app.outbound.attach(console)
        await console.run()
    elif frontend is Frontend.PTB:
        from bot.ptb import run_ptb

        settle_long_lived_objects()
        await run_ptb(app)
    else:
        from bot.aiogram import run_aiogram

        settle_long_lived_objects()
        await run_aiogram(app)


async def migrate(settings: Settings) -> str | None:
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def load_campaigns(settings: Settings, data: bytes) -> LoadReport:
    """Validate the whole file, then load it in one transaction (or not at all)."""
    file = read_campaign_file(data)
    app = await build_app(settings)
    try:
        return await app.services.campaigns.load(file)
    finally:
        await app.close()


def _read_file(path: Path) -> bytes:
    """A campaign file's bytes; one over the size limit is read only that far (and refused)."""
    with path.open("rb") as file:
        return file.read(MAX_FILE_BYTES + 1)


def demo_campaigns(now: datetime) -> CampaignFile:
    """The demo campaign file with every window moved to start now (durations kept)."""
    file = parse_campaign_file(DEMO_CAMPAIGNS.read_text(encoding="utf-8"))
    for spec in file.campaigns:
        length = spec.ends_at - spec.starts_at
        spec.starts_at = now
        spec.ends_at = now + length
    return file


async def seed_demo(settings: Settings) -> None:
    """A demo customer (the console user) with bound numbers and a live demo campaign.

    Running it again adds nothing new; the demo campaign's window starts again from now.
    """
    app = await build_app(settings)
    try:
        await app.services.campaigns.load(demo_campaigns(datetime.now(UTC)))
        profile = TelegramProfile(
            telegram_id=settings.console_user_id,
            first_name="Console",
            language_code=settings.console_language,
        )
        turn = await app.services.customers.begin_turn(profile, settings.console_user_id)
        for digits in DEMO_NUMBERS:
            try:
                await app.services.customers.bind_phone(
                    turn.customer.id, parse_phone_number(digits)
                )
            except PhoneAlreadyBound:
                pass
    finally:
        await app.close()


async def set_staff_role(settings: Settings, telegram_id: int, role: StaffRole | None) -> bool:
    """Grant `role` (or revoke any role when None); False when there was nothing to revoke."""
    app = await build_app(settings)
    try:
        if role is None:
            return await app.services.staff.revoke(telegram_id)
        await app.services.staff.grant(telegram_id, role)
        return True
    finally:
        await app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (console when BOT_TOKEN is unset)")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("seed-demo", help="fill the database with demo data")
    campaigns = commands.add_parser("campaigns", help="campaign files").add_subparsers(
        dest="action", required=True
    )
    load = campaigns.add_parser("load", help="validate and load a campaign file (TOML)")
    load.add_argument("file", type=Path)
    staff = commands.add_parser("staff", help="staff roles").add_subparsers(
        dest="action", required=True
    )
    grant = staff.add_parser("grant", help="make a Telegram user an agent or a supervisor")
    grant.add_argument("telegram_id", type=int)
    grant.add_argument("role", choices=[role.value for role in StaffRole])
    revoke = staff.add_parser("revoke", help="take a Telegram user's staff role away")
    revoke.add_argument("telegram_id", type=int)
    link = staff.add_parser("link", help="a single-use dashboard sign-in link (10 minutes)")
    link.add_argument("telegram_id", type=int)
    commands.add_parser("dashboard", help="serve the dashboard and /metrics alone")
    args = parser.parse_args(argv)

    try:
        settings = Settings()
    except ValidationError as error:
        problems = settings_problems(error)
        print(f"refusing to start, the settings are not valid: {problems}", file=sys.stderr)
        return 2
    if args.command == "run" and settings.chosen_frontend is Frontend.CONSOLE:
        console_logging(settings.log_level.upper(), settings.log_format)
    else:
        to_terminal = logging.StreamHandler(sys.stderr)
        to_terminal.setFormatter(log_formatter(settings.log_format))
        logging.basicConfig(level=settings.log_level.upper(), handlers=[to_terminal])
    # No secret and no full phone number is written, whichever library writes the line.
    install_redaction(settings_secrets(settings))
    # HTTP client logs show request URLs, and a Bot API URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # A line for every sweep every few seconds drowns what the sweeps themselves report.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # aiogram writes a line for every update (a flood would write thousands); failures still show.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    if args.command == "run":
        problem = settings.missing_gateway
        if problem is not None:
            print(f"refusing to start: {problem}", file=sys.stderr)
            return 2
        if settings.demo_mode:
            log.warning(
                "DEMO_MODE is on (not for real customers): payment methods %s, %s carrier gateway",
                ", ".join(method.value for method in settings.offered_payment_methods),
                "the sandbox" if settings.sandbox_gateway else "the GATEWAY_URL",
            )
        try:
            asyncio.run(run(settings))
        except Exception:
            # Through the log, so its redaction applies: a Bot API error can carry the token.
            log.exception("the bot stopped on an error")
            return 1
    elif args.command == "migrate":
        revision = asyncio.run(migrate(settings))
        print(f"database at revision {revision}")
    elif args.command == "seed-demo":
        asyncio.run(seed_demo(settings))
        print("demo data in place")
    elif args.command == "campaigns":
        try:
            report = asyncio.run(load_campaigns(settings, _read_file(args.file)))
        except (CampaignFileError, OSError) as error:
            print(f"{args.file}: {error}", file=sys.stderr)
            return 2
        print(
            f"loaded {report.campaigns} campaigns, {report.offers} offers, "
            f"{report.rewards} rewards from {args.file}"
        )
    elif args.command == "dashboard":
        return asyncio.run(serve_dashboard(settings))
    elif args.command == "staff" and args.action == "link":
        try:
            print(asyncio.run(staff_link(settings, args.telegram_id)))
        except NotStaff:
            print(f"{args.telegram_id} is not staff (ADMIN_IDS or a granted role)", file=sys.stderr)
            return 2
    elif args.command == "staff":
        role = StaffRole(args.role) if args.action == "grant" else None
        done = asyncio.run(set_staff_role(settings, args.telegram_id, role))
        print(
            f"{args.telegram_id}: {role.value if role else 'no staff role'}"
            if done
            else f"{args.telegram_id} had no staff role"
        )
    return 0
