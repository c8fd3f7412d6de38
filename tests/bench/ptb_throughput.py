"""Updates per second through python-telegram-bot → our adapter → the router → SQLite.

    .venv/bin/python tests/bench/ptb_throughput.py [--updates 4000] [--users 50] [--profile]

PTB Applications are built the same way (`application_builder`: concurrent, each chat in
order) on a null transport that answers every Bot API call locally, and fed the same updates
through `Application.update_queue`, many users at once:

* PTB echo: PTB's own example handlers (echo.py's `reply_text`, inlinekeyboard.py's answer and
  edit): the floor of what any bot on PTB costs;
* PTB + our adapter with canned answers: the adapter's own cost, no database;
* full path: the product's handler, so every update is translated, routed with the customer and
  their conversation state loaded from and saved to a migrated SQLite file, and answered;
* and, for attribution, the router on SQLite alone, without PTB, and the full path with the
  database in memory (the service tests' fake unit of work, `tests/fakes`).

The workload changes state ("/bind" moves to a step, a wrong number stays there, "/cancel" moves
back) and presses menu buttons. Targets: ≥ 1,000 updates/s for the full path, and the full path
no slower than 3x PTB's echo. `--profile` prints where the full path's main thread spends its
time (cProfile; the SQLite worker threads are not in it).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import logging
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from telegram import Update
from telegram.ext import CallbackQueryHandler, ContextTypes, MessageHandler, filters
from telegram.request import RequestData

from bot.assembly import build_app, settle_long_lived_objects
from bot.ptb import application_builder, build_ptb_application, serve_conversation
from bot.ptb.events import event_from_update
from bot.ptb.frontend import PtbApplication
from bot.settings import Settings
from handlers.contract import (
    Button,
    ContactKeyboard,
    EventKind,
    Incoming,
    Outcome,
    RemoveKeyboard,
    Reply,
)
from handlers.features.phones import ShowPhones
from handlers.menu import ShowMenu
from tests.bench.in_memory import on_the_fake_database
from tests.fakes.ptb_request import LocalRequest

TOKEN = "123456:bench-token"
BOT_ID = 123456
TARGET_RATE = 1_000.0
TARGET_RATIO = 3.0
ECHO = "PTB echo (examples' handlers)"
ADAPTER = "PTB + our adapter, canned answers (no DB)"
FULL = "full path: PTB + adapter + router + SQLite"
ROUTER = "router + SQLite alone (no PTB)"
IN_MEMORY = "PTB + adapter + router, database in memory"


class NullRequest(LocalRequest):
    """Answers every Bot API call at once with a plausible result; no network at all."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._message_ids = itertools.count(1_000_000)

    def answer(self, api_method: str, request_data: RequestData | None) -> object:
        self.calls[api_method] += 1
        parameters: dict[str, Any] = {}
        if request_data is not None:
            request_data.json_payload  # noqa: B018 - the encoding a real transport would do
            parameters = request_data.parameters
        return self._result(api_method, parameters)

    def _result(self, api_method: str, parameters: dict[str, Any]) -> object:
        if api_method == "getMe":
            return {"id": BOT_ID, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
        if api_method == "getUpdates":
            return []
        if api_method in ("sendMessage", "editMessageText"):
            message_id = parameters.get("message_id") or next(self._message_ids)
            chat_id = int(parameters.get("chat_id", 0))
            message: dict[str, Any] = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bench"},
                "text": parameters.get("text", ""),
            }
            markup = parameters.get("reply_markup")
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                message["reply_markup"] = markup  # a message shows inline keyboards only
            return message
        return True


# -- the workload -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    text: str | None = None
    button: str | None = None


# Per user, over and over: to a step, a wrong number (stays), back, and two menu buttons.
CYCLE = (
    Step(text="/bind"),
    Step(text="12345"),
    Step(text="/cancel"),
    Step(button=ShowMenu().pack()),
    Step(button=ShowPhones().pack()),
)


# At most this many updates come in one getUpdates answer.
POLL_BATCH = 100


def user_id(index: int) -> int:
    return 700_000 + index


def update_json(update_id: int, user: int, step: Step) -> dict[str, Any]:
    person = {"id": user, "is_bot": False, "first_name": f"U{user}", "language_code": "en"}
    chat = {"id": user, "type": "private"}
    if step.button is None:
        message: dict[str, Any] = {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": chat,
            "from": person,
            "text": step.text,
        }
        if step.text and step.text.startswith("/"):
            command = step.text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": update_id, "message": message}
    shown = {
        "message_id": 1,
        "date": int(time.time()),
        "chat": chat,
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bench"},
        "text": "menu",
    }
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "from": person,
            "chat_instance": str(user),
            "message": shown,
            "data": step.button,
        },
    }


def workload(users: int, count: int, first_id: int) -> Iterator[dict[str, Any]]:
    """`count` updates; the users take turns, each going through `CYCLE` in order."""
    update_ids = itertools.count(first_id)
    for round_index in itertools.count():
        step = CYCLE[round_index % len(CYCLE)]
        for index in range(users):
            if count <= 0:
                return
            count -= 1
            yield update_json(next(update_ids), user_id(index), step)


def greetings(users: int) -> Iterator[dict[str, Any]]:
    """Each user's first /start (registration), before the clock starts."""
    for index in range(users):
        yield update_json(index + 1, user_id(index), Step(text="/start"))


# -- the three contestants -----------------------------------------------------------------------
async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """PTB's echo.py."""
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


async def button(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """PTB's inlinekeyboard.py."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_text(text=f"Selected option: {query.data}")


class CannedConversation:
    """Answers like the real conversation (a menu, an edit, a notice) without a database."""

    MENU = ((Button("📱 My numbers", "ph"), Button("🌐 Language", "langs")),)

    async def handle(self, event: Incoming) -> Outcome:
        if event.kind is EventKind.BUTTON:
            return Outcome([Reply("Your numbers:", self.MENU, edit=True)], notice=None)
        if event.command == "bind":
            return Outcome([Reply("Share your number", keyboard=ContactKeyboard("📱 Share"))])
        return Outcome([Reply("Cancelled.", keyboard=RemoveKeyboard()), Reply("Menu", self.MENU)])


# -- measuring ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    name: str
    updates: int
    seconds: float
    calls: Counter[str]

    @property
    def rate(self) -> float:
        return self.updates / self.seconds


async def feed(
    application: PtbApplication, payloads: list[dict[str, Any]], batch: int = POLL_BATCH
) -> float:
    """Seconds to process every update, fed through the update queue as polling would: a
    getUpdates answer (`batch` updates) at a time, the next once those were handled. (All of
    them at once would put up to 80 updates of one chat in line, and the bot drops those beyond
    the flood guard's 20, so fewer would be worked.)"""
    updates = [Update.de_json(payload, application.bot) for payload in payloads]
    started = time.perf_counter()
    for start in range(0, len(updates), batch):
        for update in updates[start : start + batch]:
            application.update_queue.put_nowait(update)
        await application.update_queue.join()
    return time.perf_counter() - started


async def measure(
    name: str,
    application: PtbApplication,
    request: NullRequest,
    args: argparse.Namespace,
    profiler: cProfile.Profile | None = None,
) -> Result:
    async with application:
        await application.start()
        await feed(application, list(greetings(args.users)))
        request.calls.clear()
        payloads = list(workload(args.users, args.updates, first_id=args.users + 1))
        settle_long_lived_objects()  # as `python -m bot run` does once the bot is built
        if profiler is not None:
            profiler.enable()
        seconds = await feed(application, payloads)
        if profiler is not None:
            profiler.disable()
        await application.stop()
    return Result(name, len(payloads), seconds, Counter(request.calls))


def settings_for(directory: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=TOKEN,  # type: ignore[arg-type]
        bot_frontend="ptb",  # type: ignore[arg-type]
        telegram_api_url="http://bot-api.invalid",
        database_url=f"sqlite+aiosqlite:///{directory}/bench.sqlite3",
    )


def null_application(settings: Settings) -> tuple[PtbApplication, NullRequest]:
    request = NullRequest()
    builder = application_builder(settings, request=request, get_updates_request=NullRequest())
    return builder.build(), request


async def full_path(
    settings: Settings, args: argparse.Namespace, *, in_memory: bool = False
) -> Result:
    """Ours on SQLite; `in_memory`: on the service tests' fake unit of work instead."""
    app = await build_app(settings)
    try:
        request = NullRequest()
        served = on_the_fake_database(app) if in_memory else app
        application = build_ptb_application(
            served, request=request, get_updates_request=NullRequest()
        )
        profiler = cProfile.Profile() if args.profile and not in_memory else None
        result = await measure(
            IN_MEMORY if in_memory else FULL, application, request, args, profiler
        )
        if profiler is not None:
            print_profile(profiler)
        return result
    finally:
        await app.close()


async def adapter_only(settings: Settings, args: argparse.Namespace) -> Result:
    application, request = null_application(settings)
    serve_conversation(application, CannedConversation())
    return await measure(ADAPTER, application, request, args)


async def ptb_echo(settings: Settings, args: argparse.Namespace) -> Result:
    application, request = null_application(settings)
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.add_handler(CallbackQueryHandler(button))
    return await measure(ECHO, application, request, args)


async def router_only(settings: Settings, args: argparse.Namespace) -> Result:
    """The router on SQLite without PTB: each user's events in order, the users at once."""
    app = await build_app(settings)
    payloads = list(workload(args.users, args.updates, first_id=args.users + 1))
    events = [event_from_update(Update.de_json(payload, None)) for payload in payloads]
    per_user: dict[int, list[Incoming]] = {}
    for event in events:
        assert event is not None
        per_user.setdefault(event.chat_id, []).append(event)

    async def play(chat: list[Incoming]) -> None:
        for event in chat:
            await app.conversation.handle(event)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(play(chat) for chat in per_user.values()))
        return Result(ROUTER, len(events), time.perf_counter() - started, Counter())
    finally:
        await app.close()


def print_profile(profiler: cProfile.Profile) -> None:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(30)
    print(out.getvalue())


def report(results: dict[str, Result], errors: int) -> bool:
    for result in results.values():
        calls = ", ".join(f"{name} {count}" for name, count in sorted(result.calls.items()))
        print(
            f"{result.name:44} {result.updates:6} updates in {result.seconds:6.2f} s"
            f" = {result.rate:7.0f} updates/s  {calls}"
        )
    full, echo_rate = results[FULL].rate, results[ECHO].rate
    ratio = echo_rate / full
    print(f"PTB echo / full path = {ratio:.1f}x (target ≤ {TARGET_RATIO:.0f}x)")
    print(f"PTB echo / adapter only = {echo_rate / results[ADAPTER].rate:.1f}x")
    in_memory = echo_rate / results[IN_MEMORY].rate
    print(f"PTB echo / full path with the database in memory = {in_memory:.1f}x")
    print(f"errors logged: {errors}")
    met = full >= TARGET_RATE and ratio <= TARGET_RATIO and errors == 0
    print("targets met" if met else f"TARGETS NOT MET (full path target ≥ {TARGET_RATE:.0f}/s)")
    return met


class ErrorCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def main(args: argparse.Namespace) -> bool:
    errors = ErrorCount()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().addHandler(errors)
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as directory:
        results[ECHO] = await ptb_echo(settings_for(Path(directory)), args)
        results[ADAPTER] = await adapter_only(settings_for(Path(directory)), args)
        results[FULL] = await full_path(settings_for(Path(directory, "full")), args)
        results[ROUTER] = await router_only(settings_for(Path(directory, "router")), args)
        memory = settings_for(Path(directory, "memory"))
        results[IN_MEMORY] = await full_path(memory, args, in_memory=True)
    return report(results, errors.count)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--updates", type=int, default=4_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="cProfile the full path")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(main(parse_args(sys.argv[1:]))) else 1)
