"""Command line: `python -m bot run | migrate | seed-demo`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.assembly import App, build_app
from bot.settings import Frontend, Settings
from domain.customers import TelegramProfile
from domain.persistence.database import create_engine
from domain.persistence.migrate import current_revision, upgrade
from domain.phone import parse_phone_number
from domain.services.customers import PhoneAlreadyBound
from scheduler.jobs import Schedule, build_scheduler

log = logging.getLogger("bot")

DEMO_NUMBERS = ("18612345678", "13800138000")


async def run(settings: Settings) -> None:
    app = await build_app(settings)
    schedule = Schedule(
        settings.conversation_idle_seconds,
        settings.housekeeping_interval_seconds,
        settings.order_sweep_seconds,
    )
    scheduler = build_scheduler(app.services, schedule, app.outbound)
    scheduler.start()
    try:
        await run_frontend(app)
    finally:
        scheduler.shutdown(wait=False)
        await app.close()


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
        console = ConsoleFrontend(app.conversation, user)
        app.outbound.attach(console)
        await console.run()
    elif frontend is Frontend.PTB:
        from bot.ptb import run_ptb

        await run_ptb(app)
    else:
        from bot.aiogram import run_aiogram

        await run_aiogram(app)


async def migrate(settings: Settings) -> str | None:
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def seed_demo(settings: Settings) -> None:
    """A demo customer (the console user) with bound numbers; running it twice adds nothing."""
    app = await build_app(settings)
    try:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (console when BOT_TOKEN is unset)")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("seed-demo", help="fill the database with demo data")
    args = parser.parse_args(argv)

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "run":
        asyncio.run(run(settings))
    elif args.command == "migrate":
        revision = asyncio.run(migrate(settings))
        print(f"database at revision {revision}")
    elif args.command == "seed-demo":
        asyncio.run(seed_demo(settings))
        print("demo data in place")
    return 0
