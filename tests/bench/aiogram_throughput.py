"""Updates per second through the aiogram front end, beside aiogram's own echo handler.

    python tests/bench/aiogram_throughput.py [--updates 3000] [--users 50] [--batch 100]
                                             [--profile]

The echo is aiogram's examples: echo_bot.py's `send_copy` for a message, and for a button press
the answer and the edit of callback_data_factory.py (as the PTB bench's floor is PTB's echo.py
and inlinekeyboard.py). Both paths get the same pre-parsed updates through
`Dispatcher.feed_update`, in concurrent
batches as polling hands them to tasks, over a null transport (a `BaseSession` that serialises
each request as aiohttp would and answers it locally, no HTTP). Ours goes through the adapter
to the neutral router, which loads and saves conversation state on a temp migrated SQLite file;
the workload alternates /bind (to a step) and /cancel (back) with menu button presses. For
attribution, also: our adapter with canned answers, the router alone on SQLite, and our path and
the router with the database in memory (the service tests' fake unit of work, `tests/fakes`).
Targets: >= 1,000 updates/s through our path, and our path no slower than 3x the echo.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import io
import json
import logging
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the fakes of tests/

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    EditMessageText,
    GetMe,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, Message, Update
from pydantic import SecretStr

from bot.aiogram import build_dispatcher, callback_to_event, message_to_event
from bot.assembly import App, build_app, settle_long_lived_objects
from bot.settings import Settings
from domain.languages import Language
from handlers.contract import Button, ContactKeyboard, EventKind, Incoming, Outcome, Reply
from handlers.features.phones import ShowPhones
from handlers.i18n import texts
from handlers.menu import ShowMenu
from handlers.router import ConversationRouter
from tests.bench.in_memory import on_the_fake_database

TOKEN = "123456:bench"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
TARGET_RATE = 1000.0
TARGET_RATIO = 3.0


class NullSession(BaseSession):
    """Serialises each request like the aiohttp session, answers it locally, counts calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.texts: Counter[str] = Counter()
        self._message_id = 1000

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - the signature of BaseSession
    ) -> TelegramType:
        files: dict[str, Any] = {}
        form = {
            key: self.prepare_value(value, bot=bot, files=files)
            for key, value in method.model_dump(warnings=False).items()
        }
        self.calls[method.__api_method__] += 1
        body = json.dumps({"ok": True, "result": self._result(method, form)})
        response = self.check_response(bot=bot, method=method, status_code=200, content=body)
        return cast(TelegramType, response.result)

    def _result(self, method: TelegramMethod[Any], form: dict[str, Any]) -> Any:
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, SendMessage | EditMessageText):
            self.texts[str(form["text"])] += 1
            self._message_id += 1
            return {
                "message_id": int(form.get("message_id") or self._message_id),
                "date": int(time.time()),
                "chat": {"id": int(form["chat_id"]), "type": "private"},
                "from": BOT_USER,
                "text": form["text"],
            }
        return True

    async def close(self) -> None:
        return None

    async def stream_content(  # pragma: no cover - never used
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError
        yield b""


# -- the workload ------------------------------------------------------------------------------
def _user(user_id: int) -> dict[str, Any]:
    language = "en" if user_id % 2 else "zh-hans"
    return {"id": user_id, "is_bot": False, "first_name": f"U{user_id}", "language_code": language}


def _text_update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": _user(user_id),
            "text": text,
        },
    }


def _button_update(update_id: int, user_id: int, data: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "chat_instance": str(user_id),
            "from": _user(user_id),
            "data": data,
            "message": {
                "message_id": 7,
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private"},
                "from": BOT_USER,
                "text": "menu",
            },
        },
    }


# Per user, in turn: to a step, back, and two menu buttons (edits).
STEPS = ("/bind", "/cancel", ShowPhones().pack(), ShowMenu().pack())


def workload(bot: Bot, count: int, users: int, first_id: int) -> list[Update]:
    raw: list[dict[str, Any]] = []
    for n in range(count):
        update_id, user_id = first_id + n, 1000 + n % users
        step = STEPS[(n // users) % len(STEPS)]
        if step.startswith("/"):
            raw.append(_text_update(update_id, user_id, step))
        else:
            raw.append(_button_update(update_id, user_id, step))
    return [Update.model_validate(item, context={"bot": bot}) for item in raw]


def batches(updates: list[Update], size: int) -> Iterator[list[Update]]:
    for start in range(0, len(updates), size):
        yield updates[start : start + size]


async def feed(dispatcher: Dispatcher, bot: Bot, updates: list[Update], batch: int) -> float:
    """Seconds to handle all updates, each batch concurrently as polling's tasks would."""
    started = time.perf_counter()
    for chunk in batches(updates, batch):
        await asyncio.gather(*(dispatcher.feed_update(bot, update) for update in chunk))
    return time.perf_counter() - started


# -- aiogram's own echo ------------------------------------------------------------------------
def echo_dispatcher() -> Dispatcher:
    router = Router(name="echo")

    @router.message()
    async def echo(message: Message) -> None:
        await message.send_copy(chat_id=message.chat.id)

    @router.callback_query()
    async def answer(query: CallbackQuery) -> None:
        """A button press as aiogram's examples (callback_data_factory.py) answer it: the
        query answered and the message edited, as PTB's inlinekeyboard.py does in the PTB
        bench."""
        await query.answer()
        assert isinstance(query.message, Message)
        await query.message.edit_text(f"Selected option: {query.data}")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


# -- our adapter alone: a conversation that answers at once, without a database -------------
class InstantConversation:
    """Answers like the real one (a question with a keyboard, or an edited menu), no state."""

    MENU = ((Button("📱 My numbers", "ph"), Button("🌐 Language", "langs")),)

    async def handle(self, event: Incoming) -> Outcome:
        if event.kind is EventKind.BUTTON:
            return Outcome([Reply("What would you like to do?", self.MENU, edit=True)])
        return Outcome([Reply("Share your number", keyboard=ContactKeyboard("📱 Share"))])


def adapter_only(app: App) -> Dispatcher:
    instant = cast(ConversationRouter, InstantConversation())
    return build_dispatcher(dataclasses.replace(app, conversation=instant))


# -- running -----------------------------------------------------------------------------------
async def build_bench_app(directory: Path) -> App:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{directory}/bench.sqlite3",
        bot_token=SecretStr(TOKEN),
    )
    return await build_app(settings)


async def greet_everyone(dispatcher: Dispatcher, bot: Bot, users: int) -> None:
    """Register every customer first, so the measured run is steady-state traffic."""
    starts = [
        Update.model_validate(_text_update(n + 1, 1000 + n, "/start"), context={"bot": bot})
        for n in range(users)
    ]
    await feed(dispatcher, bot, starts, batch=100)


def internal_errors(session: NullSession) -> int:
    return sum(session.texts[texts(language)("error.internal")] for language in Language)


def profiled(run: Any) -> Any:
    async def wrapper(*args: Any) -> Any:
        profile = cProfile.Profile()
        profile.enable()
        try:
            return await run(*args)
        finally:
            profile.disable()
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out).strip_dirs()
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(40)
            print(out.getvalue())

    return wrapper


# -- the router alone, for attribution: same events, no aiogram, no Bot API -------------------
def event_of(update: Update) -> Incoming | None:
    if update.message is not None:
        return message_to_event(update.message)
    if update.callback_query is not None:
        return callback_to_event(update.callback_query)
    return None


def neutral_events(updates: list[Update]) -> list[Incoming]:
    return [event for event in map(event_of, updates) if event is not None]


async def feed_router(
    conversation: ConversationRouter, events: list[Incoming], batch: int
) -> float:
    """Seconds for the router to handle every event: chats concurrently, each chat in order."""

    async def in_order(chat_events: list[Incoming]) -> None:
        for event in chat_events:
            await conversation.handle(event)

    started = time.perf_counter()
    for start in range(0, len(events), batch):
        chats: dict[int, list[Incoming]] = {}
        for event in events[start : start + batch]:
            chats.setdefault(event.chat_id, []).append(event)
        await asyncio.gather(*(in_order(chat_events) for chat_events in chats.values()))
    return time.perf_counter() - started


# -- running -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Rates:
    ours: float
    echo: float
    adapter_alone: float
    ours_in_memory: float
    router_alone: float
    router_in_memory: float


async def measure(app: App, count: int, users: int, batch: int, profile: bool) -> Rates:
    """Every path on the same workload, after a warm-up (imports, caches, connection pool)."""
    in_memory = on_the_fake_database(app)
    bots = [Bot(token=TOKEN, session=NullSession()) for _ in range(4)]
    dispatchers = (
        build_dispatcher(app),
        echo_dispatcher(),
        adapter_only(app),
        build_dispatcher(in_memory),
    )
    # In the order of `Rates`: the four paths through aiogram, then the two routers alone.
    paths = list(zip(dispatchers, bots, strict=True))
    (ours, ours_bot), *_, ours_in_memory = paths
    for dispatcher, bot in ((ours, ours_bot), ours_in_memory):
        await greet_everyone(dispatcher, bot, users)
    for dispatcher, bot in paths:
        await feed(dispatcher, bot, workload(bot, users * 4, users, 10_000), batch)
    settle_long_lived_objects()  # as `python -m bot run` does once the bot is built

    seconds = []
    for dispatcher, bot in paths:
        run = profiled(feed) if profile and dispatcher is ours else feed
        seconds.append(await run(dispatcher, bot, workload(bot, count, users, 100_000), batch))
    for conversation, first_id in ((app.conversation, 200_000), (in_memory.conversation, 300_000)):
        events = neutral_events(workload(ours_bot, count, users, first_id))
        seconds.append(await feed_router(conversation, events, batch))
    report_calls(cast(NullSession, ours_bot.session))
    return Rates(*(count / s for s in seconds))


async def main(count: int, users: int, batch: int, profile: bool) -> int:
    with tempfile.TemporaryDirectory() as directory:
        app = await build_bench_app(Path(directory))
        try:
            rates = await measure(app, count, users, batch, profile)
        finally:
            await app.close()
    return report(count, users, batch, rates)


def report_calls(session: NullSession) -> None:
    errors = internal_errors(session)
    print(f"Bot API calls on our path: {dict(session.calls)}; internal errors: {errors}")
    if errors:
        raise SystemExit("the conversation failed during the benchmark")


def report(count: int, users: int, batch: int, rates: Rates) -> int:
    ratio = rates.echo / rates.ours
    print(f"{count} updates from {users} users, batches of {batch}, state on SQLite")
    print(f"ours: aiogram -> adapter -> router -> SQLite {rates.ours:8.0f} updates/s")
    print(f"aiogram echo                                 {rates.echo:8.0f} updates/s")
    print(f"echo / ours                                  {ratio:8.2f}x")
    print(f"  our adapter alone (canned answers, no DB)  {rates.adapter_alone:8.0f} updates/s")
    print(f"  the router alone on SQLite (no aiogram)    {rates.router_alone:8.0f} updates/s")
    print(f"  ours, the database in memory (tests/fakes) {rates.ours_in_memory:8.0f} updates/s")
    print(f"  echo / ours with the database in memory    {rates.echo / rates.ours_in_memory:8.2f}x")
    print(f"  the router alone, the database in memory   {rates.router_in_memory:8.0f} updates/s")
    ok = rates.ours >= TARGET_RATE and ratio <= TARGET_RATIO
    print(f"targets (>= {TARGET_RATE:.0f}/s, <= {TARGET_RATIO:.0f}x):", "met" if ok else "NOT met")
    return 0 if ok else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="cProfile our path")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    args = parse_args()
    raise SystemExit(asyncio.run(main(args.updates, args.users, args.batch, args.profile)))
