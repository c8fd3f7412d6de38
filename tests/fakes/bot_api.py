"""A fake Telegram Bot API server, owned by the project, for end-to-end tests over real HTTP.

The bot under test talks to it exactly as it would to ``api.telegram.org`` (only the base URL
differs); tests drive simulated users through Python methods and look at what the bot did.

Quick start::

    async with FakeBotApi() as api:
        bot = telegram.Bot(api.token, base_url=f"{api.base_url}/bot")   # python-telegram-bot
        # or aiogram: Bot(api.token, session=AiohttpSession(
        #                     api=TelegramAPIServer.from_base(api.base_url)))
        alice = FakeUser(id=1001, first_name="Alice")
        api.send_text(alice, "/start")              # queued for getUpdates / POSTed to the webhook
        [reply] = await api.wait_for_message(alice.id)   # bot messages since that action
        api.press_button(alice, reply, "lang:en")

What it reproduces from the real server (because the bot must cope with it):

* responses ``{"ok": true, "result": ...}`` / ``{"ok": false, "error_code": N, "description":
  ...}`` with the same HTTP status; parameters as query string, JSON body, urlencoded or multipart
  form, with JSON-encoded values (python-telegram-bot and aiogram both send form data whose
  non-string values are JSON strings);
* ``getUpdates`` offsets, limits, long polling, ``allowed_updates``, 409 while a webhook is set
  or when a newer ``getUpdates`` call supersedes a waiting one; webhook delivery with the
  secret-token header, retries, ``getWebhookInfo`` errors, and methods returned in the webhook
  reply (aiogram's ``handle_in_background=False``);
* Message objects with per-chat message ids, ``from`` = the bot, only inline keyboards echoed as
  ``reply_markup``, ``reply_to_message`` one level deep, server-side ``parse_mode`` parsing
  (400 "can't parse entities" for broken HTML/MarkdownV2), "message is not modified", edits
  without ``reply_markup`` removing the inline keyboard, answered-twice callback queries, "chat
  not found" for chats the bot never met, 403 for users who blocked the bot, group privacy mode,
  forum topics, and (optionally) flood limits with 429 ``retry_after``.

Deliberate deviations: webhook URLs may be plain ``http://127.0.0.1``; ``timeout`` of getUpdates
may be fractional (fast tests); failed webhook deliveries are given up after
``webhook_attempts`` tries (recorded in ``webhook_failed_updates``) instead of retried for hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self, TypeVar

from aiohttp import (
    ClientConnectorError,
    ClientError,
    ClientResponse,
    ClientSession,
    ClientTimeout,
    MultipartReader,
    TCPConnector,
    web,
)

from .formatting import EntityParseError, parse_text, utf16_len

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCall",
    "ApiError",
    "FakeBotApi",
    "FakeGroup",
    "FakeUser",
    "JSONDict",
    "Mark",
    "UploadedFile",
    "WebhookDelivery",
]

JSONDict = dict[str, Any]
T = TypeVar("T")

DEFAULT_TOKEN = "123456:TEST-TOKEN"
_log = logging.getLogger(__name__)

_TOKEN_FORMAT = re.compile(r"\d+:[A-Za-z0-9_-]+")
_COMMAND = re.compile(r"(?:^|(?<=\s))/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{3,32}))?(?![\w@/])")
_BOT_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_CURRENCY = re.compile(r"[A-Z]{3}")

# Parameters that are strings in the Bot API: never JSON-decode them ("100" stays "100").
_STRING_PARAMS = frozenset(
    {
        "action",
        "address",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "currency",
        "custom_emoji_id",
        "description",
        "emoji",
        "error_message",
        "explanation",
        "first_name",
        "game_short_name",
        "icon_custom_emoji_id",
        "inline_message_id",
        "invite_link",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "next_offset",
        "parse_mode",
        "payload",
        "phone_number",
        "photo",
        "photo_url",
        "pre_checkout_query_id",
        "provider_data",
        "provider_token",
        "question",
        "result_id",
        "secret_token",
        "shipping_query_id",
        "short_description",
        "start_parameter",
        "switch_pm_parameter",
        "switch_pm_text",
        "text",
        "title",
        "url",
        "vcard",
        "web_app_query_id",
    }
)
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_INLINE_BUTTON_ACTIONS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
_CONTENT_KEYS = (
    "text",
    "entities",
    "contact",
    "caption",
    "caption_entities",
    "location",
    "photo",
)
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
# Real Bot API methods the fake accepts and records without modelling them (result: true).
_ACCEPTED_SETTERS = (
    "setMyDescription",
    "setMyShortDescription",
    "setMyName",
    "setChatMenuButton",
    "setMyDefaultAdministratorRights",
)


# ------------------------------------------------------------------------------ public records


class ApiCall(NamedTuple):
    """One request the bot made: canonical method name and decoded parameters."""

    method: str
    params: JSONDict


@dataclass(frozen=True)
class ApiError:
    """An error answer the fake gave (also those injected with ``fail_next``)."""

    method: str
    params: JSONDict
    error_code: int
    description: str


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to POST an update to the webhook. ``status`` is None without an HTTP answer."""

    update_id: int
    url: str
    attempt: int
    status: int | None
    error: str | None
    secret_token: str | None


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Mark:
    """Positions in the fake's logs; pass as ``after=`` to the ``wait_for_*`` helpers."""

    calls: int = 0
    sent: int = 0
    edits: int = 0
    callback_answers: int = 0
    pre_checkout_answers: int = 0


@dataclass(frozen=True)
class FakeUser:
    """A simulated Telegram user."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_premium: bool = False

    def to_api(self) -> JSONDict:
        """The Bot API ``User`` object."""
        user: JSONDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name is not None:
            user["last_name"] = self.last_name
        if self.username is not None:
            user["username"] = self.username
        if self.language_code is not None:
            user["language_code"] = self.language_code
        if self.is_premium:
            user["is_premium"] = True
        return user

    def private_chat(self) -> JSONDict:
        """The Bot API ``Chat`` object of the private chat with this user."""
        chat: JSONDict = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name is not None:
            chat["last_name"] = self.last_name
        if self.username is not None:
            chat["username"] = self.username
        return chat


@dataclass(frozen=True)
class FakeGroup:
    """A simulated group or supergroup (ids are negative: -100... for supergroups)."""

    id: int
    title: str
    type: Literal["group", "supergroup"] = "supergroup"
    is_forum: bool = False
    username: str | None = None

    def __post_init__(self) -> None:
        if self.id >= 0:
            raise ValueError("group chat ids are negative")

    def to_api(self) -> JSONDict:
        """The Bot API ``Chat`` object."""
        chat: JSONDict = {"id": self.id, "type": self.type, "title": self.title}
        if self.username is not None:
            chat["username"] = self.username
        if self.is_forum:
            chat["is_forum"] = True
        return chat


# ----------------------------------------------------------------------------------- internals


class _TelegramError(Exception):
    def __init__(self, error_code: int, description: str, parameters: JSONDict | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


def _bad_request(text: str) -> _TelegramError:
    return _TelegramError(400, f"Bad Request: {text}")


@dataclass
class _Described:
    """A successful result that carries a ``description`` too (setWebhook, deleteWebhook)."""

    result: Any
    description: str


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None
    allowed_updates: list[str] | None


@dataclass
class _Injected:
    status: int
    description: str
    parameters: JSONDict | None
    remaining: int


@dataclass
class _Known:
    """Per-chat state."""

    chat: JSONDict
    messages: dict[int, JSONDict] = field(default_factory=dict)
    next_message_id: int = 1
    bot_is_admin: bool = False
    reply_keyboard: JSONDict | None = None
    topics: dict[int, JSONDict] = field(default_factory=dict)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _decode_params(raw: dict[str, Any]) -> JSONDict:
    params: JSONDict = {}
    for key, value in raw.items():
        if isinstance(value, str) and key not in _STRING_PARAMS:
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        params[key] = value
    return params


async def _read_params(request: web.Request) -> JSONDict:
    raw: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        content_type = request.content_type
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    raw[key] = UploadedFile(value.filename, value.content_type, value.file.read())
                else:
                    raw[key] = value
        else:
            body = await request.read()
            if body.strip():
                try:
                    decoded = json.loads(body)
                except ValueError as exc:
                    raise _bad_request("can't parse JSON object") from exc
                if not isinstance(decoded, dict):
                    raise _bad_request("can't parse JSON object")
                raw.update(decoded)
    return _decode_params(raw)


def _update_kind(update: JSONDict) -> str:
    return next(key for key in update if key != "update_id")


def _as_reply(message: JSONDict) -> JSONDict:
    reply = copy.deepcopy(message)
    reply.pop("reply_to_message", None)
    return reply


def _photo_sizes(file_id: str) -> list[JSONDict]:
    """A picture's sizes as Telegram lists them, smallest first; the largest is `file_id`."""
    return [
        {"file_id": f"{file_id}-s", "file_unique_id": f"u{file_id}-s", "width": 90, "height": 60},
        {"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 1280, "height": 853},
    ]


def _command_entities(text: str) -> list[JSONDict]:
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group(0)),
        }
        for match in _COMMAND.finditer(text)
    ]


# ----------------------------------------------------------------------------------- the server


class FakeBotApi:
    """A fake Telegram Bot API server on ``127.0.0.1`` (see the module docstring)."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "wallet_test_bot",
        bot_first_name: str = "Wallet Test Bot",
        enforce_limits: bool = False,
        per_chat_per_second: int = 1,
        global_per_second: int = 30,
        paid_per_second: int = 1000,
        group_per_minute: int = 20,
        privacy_mode: bool = True,
        webhook_attempts: int = 3,
        webhook_retry_delay: float = 0.05,
        webhook_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 1
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.enforce_limits = enforce_limits
        self.per_chat_per_second = per_chat_per_second
        self.global_per_second = global_per_second
        # Messages sent with allow_paid_broadcast: up to this many a second overall, each one
        # beyond the free `global_per_second` paid in Telegram Stars.
        self.paid_per_second = paid_per_second
        self.group_per_minute = group_per_minute
        self.privacy_mode = privacy_mode
        self.webhook_attempts = webhook_attempts
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self._clock = clock

        # What the bot did.
        self.calls: list[ApiCall] = []
        # The calls made from webhook answers (also in `calls`), as Telegram makes them.
        self.webhook_calls: list[ApiCall] = []
        self.errors: list[ApiError] = []
        self.edits: list[JSONDict] = []
        self.deleted: list[tuple[int, int]] = []
        # Files the bot sent with sendDocument, by (chat id, message id).
        self.documents: dict[tuple[int, int], UploadedFile] = {}
        # Pictures the bot sent with sendPhoto (their file ids), by (chat id, message id).
        self.photos: dict[tuple[int, int], str] = {}
        # Pictures the bot uploaded with sendPhoto (a chart it drew), by (chat id, message id).
        self.uploaded_photos: dict[tuple[int, int], UploadedFile] = {}
        # Messages the bot sent with allow_paid_broadcast, by (chat id, message id); and how
        # many of them went beyond the free rate (each charged in Telegram Stars).
        self.paid_broadcasts: list[tuple[int, int]] = []
        self.charged_messages = 0
        # File ids of the pictures the server holds (sent by users, or uploaded by the bot).
        self._photo_files: set[str] = set()
        self.callback_answers: list[JSONDict] = []
        self.pre_checkout_answers: list[JSONDict] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_failed_updates: list[JSONDict] = []
        self.too_many_requests = 0
        self.internal_errors: list[BaseException] = []

        # Updates.
        self.updates: list[JSONDict] = []
        self.filtered_updates: list[JSONDict] = []
        self._pending: list[JSONDict] = []
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(4_412_008_113_000_000_001)
        self._charge_ids = itertools.count(1)
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._webhook: _Webhook | None = None
        self._webhook_last_error: tuple[int, str] | None = None
        self._deliverer: asyncio.Task[None] | None = None
        # Chats whose calls of some methods wait for their event (a turn held mid-way, `hold`).
        self._held_chats: dict[str, tuple[asyncio.Event, frozenset[str]]] = {}

        # Chats and messages.
        self._chats: dict[int, _Known] = {}
        self._sent: list[tuple[int, int, JSONDict]] = []
        self._blocked: set[int] = set()
        self._users: dict[int, FakeUser] = {}
        self._open_callback_queries: dict[str, int] = {}
        self._open_pre_checkout_queries: dict[str, int] = {}
        self._invoices: dict[tuple[int, int], JSONDict] = {}
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}

        # Limits and injected failures.
        self._chat_sends: dict[int, deque[float]] = {}
        self._group_sends: dict[int, deque[float]] = {}
        self._global_sends: deque[float] = deque()
        # Every message the bot sent: when (the clock), to which chat, its message id.
        self.send_times: list[tuple[float, int, int]] = []
        self._injected: dict[str, deque[_Injected]] = {}

        self._changed = asyncio.Event()
        self._last_action = Mark()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._http: ClientSession | None = None
        self._port: int | None = None

        handlers: list[tuple[str, Callable[[JSONDict], Awaitable[Any]]]] = [
            ("getMe", self._get_me),
            ("getUpdates", self._get_updates),
            ("setWebhook", self._set_webhook),
            ("deleteWebhook", self._delete_webhook),
            ("getWebhookInfo", self._get_webhook_info),
            ("sendMessage", self._send_message),
            ("editMessageText", self._edit_message_text),
            ("editMessageReplyMarkup", self._edit_message_reply_markup),
            ("deleteMessage", self._delete_message),
            ("deleteMessages", self._delete_messages),
            ("copyMessage", self._copy_message),
            ("forwardMessage", self._forward_message),
            ("answerCallbackQuery", self._answer_callback_query),
            ("sendChatAction", self._send_chat_action),
            ("setMyCommands", self._set_my_commands),
            ("getMyCommands", self._get_my_commands),
            ("deleteMyCommands", self._delete_my_commands),
            ("getChat", self._get_chat),
            ("createForumTopic", self._create_forum_topic),
            ("sendInvoice", self._send_invoice),
            ("sendDocument", self._send_document),
            ("sendPhoto", self._send_photo),
            ("answerPreCheckoutQuery", self._answer_pre_checkout_query),
            ("close", self._return_true),
            ("logOut", self._return_true),
            *((name, self._return_true) for name in _ACCEPTED_SETTERS),
        ]
        self._methods = {name.lower(): (name, handler) for name, handler in handlers}

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        if self._runner is not None:
            raise RuntimeError("FakeBotApi is already started")
        self._closing = False
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("GET", "/bot{token}/{method}", self._handle)
        app.router.add_route("POST", "/bot{token}/{method}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._http = ClientSession(connector=TCPConnector(force_close=True))

    async def stop(self) -> None:
        """Stop serving; waiting long polls return at once."""
        self._closing = True
        self._notify()
        if self._deliverer is not None:
            self._deliverer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deliverer
            self._deliverer = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._port = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; the bot calls ``{base_url}/bot{token}/{method}``."""
        if self._port is None:
            raise RuntimeError("FakeBotApi is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def bot_user(self) -> JSONDict:
        """The bot as it appears in ``Message.from``."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # -------------------------------------------------------------------------- HTTP dispatch

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token != self.token:
            if _TOKEN_FORMAT.fullmatch(token):
                return web.json_response(
                    {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
                )
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        try:
            params = await _read_params(request)
        except _TelegramError as error:
            return web.json_response(
                {"ok": False, "error_code": error.error_code, "description": error.description},
                status=error.error_code,
            )

        def connected() -> bool:
            transport = request.transport
            return transport is not None and not transport.is_closing()

        status, body = await self._execute(request.match_info["method"], params, connected)
        return web.json_response(body, status=status)

    async def _execute(
        self, method: str, params: JSONDict, connected: Callable[[], bool] | None = None
    ) -> tuple[int, JSONDict]:
        """Run one method call; errors are logged in ``errors`` unless the client has gone
        (e.g. a long poll a stopped bot abandoned, then answered 409 by its successor)."""
        canonical, handler = self._methods.get(method.lower(), (method, None))
        self.calls.append(ApiCall(canonical, params))
        self._notify()
        try:
            if handler is None:
                raise _TelegramError(404, "Not Found: method not found")
            self._raise_injected(canonical)
            if self._held_chats:
                held, methods = self._held_chats.get(str(params.get("chat_id")), (None, ()))
                if held is not None and canonical in methods:
                    await held.wait()
            result = await handler(params)
        except _TelegramError as error:
            if connected is None or connected():
                self.errors.append(ApiError(canonical, params, error.error_code, error.description))
            self._notify()
            body: JSONDict = {
                "ok": False,
                "error_code": error.error_code,
                "description": error.description,
            }
            if error.parameters:
                body["parameters"] = error.parameters
            return error.error_code, body
        except Exception as exc:
            _log.exception("FakeBotApi failed on %s", canonical)
            self.internal_errors.append(exc)
            self._notify()
            return 500, {
                "ok": False,
                "error_code": 500,
                "description": f"Internal Server Error: fake Bot API bug: {exc!r}",
            }
        self._notify()
        if isinstance(result, _Described):
            return 200, {"ok": True, "result": result.result, "description": result.description}
        return 200, {"ok": True, "result": result}

    def _raise_injected(self, method: str) -> None:
        queue = self._injected.get(method.lower())
        if not queue:
            return
        injected = queue[0]
        injected.remaining -= 1
        if injected.remaining <= 0:
            queue.popleft()
        raise _TelegramError(injected.status, injected.description, injected.parameters)

    # ------------------------------------------------------------------------- change signals

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait_changed(self, timeout: float | None) -> None:  # noqa: ASYNC109
        event = self._changed
        if timeout is None:
            await event.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    # ----------------------------------------------------------------------- parameter helpers

    @staticmethod
    def _int(params: JSONDict, name: str, default: int | None = None) -> int | None:
        value = params.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad_request(f'field "{name}" must be of type Integer')
        return int(value)

    @staticmethod
    def _str(params: JSONDict, name: str, *, required: bool = False) -> str | None:
        value = params.get(name)
        if value is None or value == "":
            if required:
                raise _bad_request(f'parameter "{name}" is required')
            return None
        return str(value)

    def _chat(self, value: Any) -> _Known:
        """Resolve a ``chat_id`` parameter to a chat the bot knows, or raise like Telegram."""
        if value is None or value == "":
            raise _bad_request("chat_id is empty")
        if isinstance(value, str) and value.startswith("@"):
            for known in self._chats.values():
                if known.chat.get("username", "").lower() == value[1:].lower():
                    return known
            raise _bad_request("chat not found")
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad_request("chat not found")
        found = self._chats.get(value)
        if found is None:
            raise _bad_request("chat not found")
        return found

    def _target(self, params: JSONDict) -> _Known:
        """The chat a sending/editing method acts on; 403 when the user blocked the bot."""
        known = self._chat(params.get("chat_id"))
        if known.chat["id"] in self._blocked:
            raise _TelegramError(403, "Forbidden: bot was blocked by the user")
        return known

    def _format(self, params: JSONDict, key: str = "text") -> tuple[str, list[JSONDict]]:
        raw = params.get(key)
        if raw is None or raw == "":
            raise _bad_request("message text is empty")
        text = raw if isinstance(raw, str) else json.dumps(raw)
        explicit = params.get("entities" if key == "text" else f"{key}_entities")
        if isinstance(explicit, list) and explicit:
            return text, [_drop_none(e) for e in explicit]
        try:
            plain, entities = parse_text(text, self._str(params, "parse_mode"))
        except EntityParseError as exc:
            raise _bad_request(f"can't parse entities: {exc}") from exc
        except ValueError as exc:
            raise _bad_request("unsupported parse_mode") from exc
        if not plain:
            raise _bad_request("message text is empty")
        if utf16_len(plain) > 4096:
            raise _bad_request("message is too long")
        return plain, entities

    def _markup(self, params: JSONDict) -> tuple[JSONDict | None, JSONDict | None]:
        """``(inline_keyboard_markup_or_None, other_keyboard_or_None)`` from ``reply_markup``."""
        markup = params.get("reply_markup")
        if markup is None or markup == "":
            return None, None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        markup = _drop_none(markup)
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad_request(
                    'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                        raise _bad_request(
                            "can't parse inline keyboard button: "
                            'Field "text" must be of type String'
                        )
                    if not _INLINE_BUTTON_ACTIONS & button.keys():
                        raise _bad_request(
                            "can't parse inline keyboard button: Text buttons are unallowed in "
                            "the inline keyboard"
                        )
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode()) <= 64:
                        raise _bad_request("BUTTON_DATA_INVALID")
            if not any(rows):
                return None, None
            return markup, None
        if {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
            return None, markup
        raise _bad_request("can't parse reply keyboard markup JSON object")

    def _reply_to(self, known: _Known, params: JSONDict) -> JSONDict | None:
        parameters = params.get("reply_parameters")
        allow = bool(params.get("allow_sending_without_reply"))
        message_id: Any = None
        if isinstance(parameters, dict):
            message_id = parameters.get("message_id")
            allow = bool(parameters.get("allow_sending_without_reply", allow))
            other_chat = parameters.get("chat_id")
            if other_chat not in (None, known.chat["id"]):
                known = self._chat(other_chat)
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
        if message_id is None:
            return None
        target = known.messages.get(message_id) if isinstance(message_id, int) else None
        if target is None:
            if allow:
                return None
            raise _bad_request("message to be replied not found")
        return target

    def _thread(self, known: _Known, params: JSONDict, reply: JSONDict | None) -> int | None:
        if not known.chat.get("is_forum"):
            return None
        thread = self._int(params, "message_thread_id")
        if thread is None and reply is not None:
            thread = reply.get("message_thread_id")
        if thread is not None and thread not in known.topics:
            raise _bad_request("message thread not found")
        return thread

    # ------------------------------------------------------------------------ message storage

    def _new_message(
        self,
        known: _Known,
        sender: JSONDict,
        content: JSONDict,
        *,
        reply_to: JSONDict | None = None,
        thread: int | None = None,
    ) -> JSONDict:
        message_id = known.next_message_id
        known.next_message_id += 1
        message: JSONDict = {
            "message_id": message_id,
            "from": copy.deepcopy(sender),
            "chat": copy.deepcopy(known.chat),
            "date": int(self._clock()),
        }
        if thread is not None:
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
            if reply_to is None:
                reply_to = known.messages.get(thread)
        message.update(content)
        if reply_to is not None:
            message["reply_to_message"] = _as_reply(reply_to)
        known.messages[message_id] = message
        return message

    def _send(
        self,
        known: _Known,
        params: JSONDict,
        content: JSONDict,
        *,
        other_markup: JSONDict | None = None,
    ) -> JSONDict:
        """Store a message the bot sends, after flood control; returns a copy for the answer."""
        reply = self._reply_to(known, params)
        thread = self._thread(known, params, reply)
        chat_id = known.chat["id"]
        paid = params.get("allow_paid_broadcast") in (True, "true", "True")
        self._check_rate(chat_id, paid)
        message = self._new_message(known, self.bot_user, content, reply_to=reply, thread=thread)
        if other_markup is not None:
            if "keyboard" in other_markup:
                known.reply_keyboard = other_markup
            elif "remove_keyboard" in other_markup:
                known.reply_keyboard = None
        if paid:
            self.paid_broadcasts.append((chat_id, message["message_id"]))
            if self._sent_within_a_second() >= self.global_per_second:
                self.charged_messages += 1
        self._record_send(chat_id)
        self.send_times.append((self._clock(), chat_id, message["message_id"]))
        self._sent.append((chat_id, message["message_id"], copy.deepcopy(message)))
        return copy.deepcopy(message)

    def _bot_message(self, known: _Known, params: JSONDict, not_found: str) -> JSONDict:
        if params.get("inline_message_id"):
            raise _bad_request("MESSAGE_ID_INVALID")
        message_id = self._int(params, "message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        message = known.messages.get(message_id)
        if message is None:
            raise _bad_request(not_found)
        if message["from"]["id"] != self.bot_id:
            raise _bad_request("message can't be edited")
        return message

    def _store_edit(self, method: str, known: _Known, old: JSONDict, new: JSONDict) -> JSONDict:
        new["edit_date"] = int(self._clock())
        known.messages[new["message_id"]] = new
        self.edits.append(
            {
                "method": method,
                "chat_id": known.chat["id"],
                "message_id": new["message_id"],
                "before": copy.deepcopy(old),
                "message": copy.deepcopy(new),
            }
        )
        return copy.deepcopy(new)

    # ------------------------------------------------------------------------------ rate limits

    def _sent_within_a_second(self) -> int:
        since, count = self._clock() - 1.0, 0
        for at in reversed(self._global_sends):
            if at <= since:
                break
            count += 1
        return count

    def _check_rate(self, chat_id: int, paid: bool = False) -> None:
        """Telegram's flood control: a paid broadcast's message (allow_paid_broadcast) may go
        up to `paid_per_second` overall, any other up to `global_per_second`."""
        if not self.enforce_limits:
            return
        now = self._clock()
        waits: list[float] = []

        def over(times: deque[float], window: float, limit: int) -> None:
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= limit:
                waits.append(times[0] + window - now)

        over(self._chat_sends.setdefault(chat_id, deque()), 1.0, self.per_chat_per_second)
        over(self._global_sends, 1.0, self.paid_per_second if paid else self.global_per_second)
        if chat_id < 0:
            over(self._group_sends.setdefault(chat_id, deque()), 60.0, self.group_per_minute)
        if waits:
            retry_after = max(1, math.ceil(max(waits)))
            self.too_many_requests += 1
            raise _TelegramError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )

    def _record_send(self, chat_id: int) -> None:
        now = self._clock()
        self._chat_sends.setdefault(chat_id, deque()).append(now)
        self._global_sends.append(now)
        if chat_id < 0:
            self._group_sends.setdefault(chat_id, deque()).append(now)
        while self._global_sends and self._global_sends[0] <= now - 60.0:
            self._global_sends.popleft()

    # ---------------------------------------------------------------------- method: identity

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _return_true(self, params: JSONDict) -> bool:
        return True

    async def _get_chat(self, params: JSONDict) -> JSONDict:
        known = self._chat(params.get("chat_id"))
        return {**copy.deepcopy(known.chat), "accent_color_id": 0, "max_reaction_count": 11}

    # ----------------------------------------------------------------------- method: updates

    def _update_allowed(self, kind: str) -> bool:
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in _DEFAULT_EXCLUDED_UPDATES

    def _set_allowed_updates(self, value: Any) -> None:
        if isinstance(value, list):
            self._allowed_updates = [str(v) for v in value] or None

    def _confirm(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        else:
            self._pending = self._pending[offset:]

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self._webhook is not None:
            raise _TelegramError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = self._int(params, "offset")
        limit = min(max(self._int(params, "limit", 100) or 100, 1), 100)
        timeout_value = params.get("timeout") or 0
        if isinstance(timeout_value, bool) or not isinstance(timeout_value, int | float):
            raise _bad_request('field "timeout" must be of type Integer')
        timeout = max(float(timeout_value), 0.0)
        self._set_allowed_updates(params.get("allowed_updates"))
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._pending or self._closing:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._wait_changed(remaining)
            if self._webhook is not None:
                raise _TelegramError(409, "Conflict: terminated by setWebhook request")
            if generation != self._poll_generation:
                raise _TelegramError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
        return copy.deepcopy(self._pending[:limit])

    async def _set_webhook(self, params: JSONDict) -> _Described:
        url = self._str(params, "url") or ""
        if not url:
            return await self._delete_webhook(params)
        if not url.startswith(("https://", "http://")):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = self._str(params, "secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise _bad_request("secret token contains unallowed characters")
        self._set_allowed_updates(params.get("allowed_updates"))
        if params.get("drop_pending_updates"):
            self._pending.clear()
        hook = _Webhook(
            url=url,
            secret_token=secret,
            max_connections=self._int(params, "max_connections", 40) or 40,
            ip_address=self._str(params, "ip_address"),
            allowed_updates=list(self._allowed_updates) if self._allowed_updates else None,
        )
        already = self._webhook == hook
        self._webhook = hook
        self._webhook_last_error = None
        if self._deliverer is None or self._deliverer.done():
            self._deliverer = asyncio.create_task(self._deliver_loop())
        self._notify()
        return _Described(True, "Webhook is already set" if already else "Webhook was set")

    async def _delete_webhook(self, params: JSONDict) -> _Described:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        if self._webhook is None:
            return _Described(True, "Webhook is already deleted")
        self._webhook = None
        self._notify()
        return _Described(True, "Webhook was deleted")

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self._webhook.url if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self._webhook is not None:
            info["max_connections"] = self._webhook.max_connections
            if self._webhook.ip_address:
                info["ip_address"] = self._webhook.ip_address
            if self._webhook.allowed_updates:
                info["allowed_updates"] = list(self._webhook.allowed_updates)
            if self._webhook_last_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    # ---------------------------------------------------------------------- webhook delivery

    async def _deliver_loop(self) -> None:
        while not self._closing:
            hook = self._webhook
            if hook is None:
                return
            if not self._pending:
                await self._wait_changed(None)
                continue
            update = self._pending[0]
            try:
                done = await self._deliver(hook, update)
            except Exception as exc:  # a bug of the fake: keep delivering, report it
                _log.exception("FakeBotApi webhook delivery failed")
                self.internal_errors.append(exc)
                done = True
            if done:
                self._pending = [u for u in self._pending if u is not update]
            self._notify()

    async def _deliver(self, hook: _Webhook, update: JSONDict) -> bool:
        """POST ``update``, retrying; True when delivered or given up, False when the webhook
        changed meanwhile (the update stays pending)."""
        assert self._http is not None
        headers = {"Content-Type": "application/json"}
        if hook.secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        body = json.dumps(update, ensure_ascii=False).encode()
        for attempt in range(1, self.webhook_attempts + 1):
            status: int | None = None
            error: str | None = None
            reply: JSONDict | None = None
            try:
                async with self._http.post(
                    hook.url,
                    data=body,
                    headers=headers,
                    timeout=ClientTimeout(total=self.webhook_timeout),
                ) as response:
                    status = response.status
                    if 200 <= status < 300:
                        reply = await self.read_webhook_reply(response)
                    else:
                        error = f"Wrong response from the webhook: {status} {response.reason}"
            except TimeoutError:
                error = "Read timeout expired"
            except ClientConnectorError:
                error = "Connection refused"
            except ClientError as exc:
                error = f"Connection error: {exc}"
            self.webhook_deliveries.append(
                WebhookDelivery(
                    update["update_id"], hook.url, attempt, status, error, hook.secret_token
                )
            )
            self._notify()
            if error is None:
                if reply is not None:
                    await self.make_webhook_call(reply)
                return True
            self._webhook_last_error = (int(self._clock()), error)
            if self._webhook is not hook or self._closing:
                return False
            if attempt < self.webhook_attempts:
                await asyncio.sleep(self.webhook_retry_delay)
        self.webhook_failed_updates.append(update)
        self._notify()
        return True

    async def make_webhook_call(self, reply: JSONDict) -> None:
        """Make the call a webhook's 200 carried (`read_webhook_reply`), as Telegram does."""
        params = dict(reply)
        method = str(params.pop("method"))
        decoded = _decode_params(params)
        self.webhook_calls.append(ApiCall(method, decoded))
        await self._execute(method, decoded)

    @staticmethod
    async def read_webhook_reply(response: ClientResponse) -> JSONDict | None:
        """A method call the bot returned in its webhook answer, if any."""
        raw: dict[str, Any] = {}
        try:
            if response.content_type == "multipart/form-data":
                reader = MultipartReader(response.headers, response.content)
                while (part := await reader.next()) is not None:
                    if isinstance(part, MultipartReader) or part.name is None:
                        continue
                    raw[part.name] = await part.text()
            else:
                text = await response.text()
                decoded = json.loads(text) if text.strip() else None
                if isinstance(decoded, dict):
                    raw = decoded
        except (ValueError, ClientError, AssertionError):
            return None
        if not raw.get("method"):
            return None
        return raw

    # ---------------------------------------------------------------------- method: messages

    async def _send_message(self, params: JSONDict) -> JSONDict:
        known = self._target(params)
        text, entities = self._format(params)
        inline, other = self._markup(params)
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        if inline is not None:
            content["reply_markup"] = inline
        return self._send(known, params, content, other_markup=other)

    async def _edit_message_text(self, params: JSONDict) -> JSONDict:
        known = self._target(params)
        message = self._bot_message(known, params, "message to edit not found")
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        text, entities = self._format(params)
        inline, _ = self._markup(params)
        new = {k: v for k, v in message.items() if k not in ("entities", "reply_markup")}
        new["text"] = text
        if entities:
            new["entities"] = entities
        if inline is not None:
            new["reply_markup"] = inline
        if (
            text == message["text"]
            and entities == message.get("entities", [])
            and inline == message.get("reply_markup")
        ):
            raise _bad_request(_NOT_MODIFIED)
        return self._store_edit("editMessageText", known, message, copy.deepcopy(new))

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        known = self._target(params)
        message = self._bot_message(known, params, "message to edit not found")
        inline, _ = self._markup(params)
        if inline == message.get("reply_markup"):
            raise _bad_request(_NOT_MODIFIED)
        new = {k: v for k, v in message.items() if k != "reply_markup"}
        if inline is not None:
            new["reply_markup"] = inline
        return self._store_edit("editMessageReplyMarkup", known, message, copy.deepcopy(new))

    async def _delete_message(self, params: JSONDict) -> bool:
        known = self._chat(params.get("chat_id"))
        message_id = self._int(params, "message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        if known.messages.pop(message_id, None) is None:
            raise _bad_request("message to delete not found")
        self.deleted.append((known.chat["id"], message_id))
        return True

    async def _delete_messages(self, params: JSONDict) -> bool:
        known = self._chat(params.get("chat_id"))
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not ids:
            raise _bad_request('parameter "message_ids" is required')
        for message_id in ids:
            if known.messages.pop(message_id, None) is not None:
                self.deleted.append((known.chat["id"], message_id))
        return True

    def _source_message(self, params: JSONDict, what: str) -> JSONDict:
        source_chat = self._chat(params.get("from_chat_id"))
        message_id = self._int(params, "message_id")
        source = source_chat.messages.get(message_id) if message_id is not None else None
        if source is None:
            raise _bad_request(f"message to {what} not found")
        if not any(key in source for key in _CONTENT_KEYS):
            raise _bad_request(
                "message can't be copied" if what == "copy" else "message can't be forwarded"
            )
        return source

    async def _copy_message(self, params: JSONDict) -> JSONDict:
        known = self._target(params)
        source = self._source_message(params, "copy")
        content = {k: copy.deepcopy(source[k]) for k in _CONTENT_KEYS if k in source}
        inline, other = self._markup(params)
        if inline is not None:
            content["reply_markup"] = inline
        sent = self._send(known, params, content, other_markup=other)
        return {"message_id": sent["message_id"]}

    async def _forward_message(self, params: JSONDict) -> JSONDict:
        known = self._target(params)
        source = self._source_message(params, "forward")
        content = {k: copy.deepcopy(source[k]) for k in _CONTENT_KEYS if k in source}
        sender = source["from"]
        content["forward_origin"] = {
            "type": "user",
            "sender_user": copy.deepcopy(sender),
            "date": source["date"],
        }
        return self._send(known, params, content)

    async def _send_chat_action(self, params: JSONDict) -> bool:
        self._target(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    async def _create_forum_topic(self, params: JSONDict) -> JSONDict:
        known = self._chat(params.get("chat_id"))
        if not known.chat.get("is_forum"):
            raise _bad_request("the chat is not a forum")
        name = self._str(params, "name", required=True)
        assert name is not None
        icon_color = self._int(params, "icon_color", 7322096) or 7322096
        thread = self._open_topic(known, self.bot_user, name, icon_color)
        return {"message_thread_id": thread, "name": name, "icon_color": icon_color}

    def _open_topic(self, known: _Known, creator: JSONDict, name: str, icon_color: int) -> int:
        created = {"name": name, "icon_color": icon_color}
        message = self._new_message(known, creator, {"forum_topic_created": created})
        thread = int(message["message_id"])
        message["message_thread_id"] = thread
        message["is_topic_message"] = True
        known.topics[thread] = created
        return thread

    # ------------------------------------------------------------------- method: interaction

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = self._str(params, "callback_query_id", required=True)
        assert query_id is not None
        update_id = self._open_callback_queries.get(query_id)
        if update_id is None:
            raise _bad_request(_QUERY_INVALID)
        text = self._str(params, "text")
        if text is not None and len(text) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        del self._open_callback_queries[query_id]
        self.callback_answers.append(
            {
                "callback_query_id": query_id,
                "update_id": update_id,
                "text": text,
                "show_alert": bool(params.get("show_alert", False)),
                "url": self._str(params, "url"),
                "cache_time": self._int(params, "cache_time", 0),
            }
        )
        return True

    def _command_scope_key(self, params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise _bad_request("can't parse BotCommandScope JSON object")
        return json.dumps(scope, sort_keys=True), self._str(params, "language_code") or ""

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request('parameter "commands" is required')
        if len(commands) > 100:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        cleaned: list[JSONDict] = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand JSON object")
            name = str(command.get("command", ""))
            description = str(command.get("description", ""))
            if not _BOT_COMMAND.fullmatch(name):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = self._command_scope_key(params)
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return copy.deepcopy(self._commands.get(self._command_scope_key(params), []))

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        self._commands.pop(self._command_scope_key(params), None)
        return True

    # ---------------------------------------------------------------------- method: payments

    async def _send_document(self, params: JSONDict) -> JSONDict:
        """A document uploaded in the request (multipart); a caption of up to 1024 characters."""
        known = self._target(params)
        document = params.get("document")
        if isinstance(document, str) and document.startswith("attach://"):
            document = params.get(document.removeprefix("attach://"))  # a part named by the field
        if not isinstance(document, UploadedFile):
            raise _bad_request("there is no document in the request")
        if not document.data:
            raise _bad_request("file must be non-empty")
        if len(document.data) > 50 * 1024 * 1024:
            raise web.HTTPRequestEntityTooLarge(max_size=50 * 1024 * 1024, actual_size=0)
        content: JSONDict = {
            "document": {
                "file_id": f"doc-{len(self.documents) + 1}",
                "file_unique_id": f"udoc-{len(self.documents) + 1}",
                "file_name": document.filename,
                "mime_type": document.content_type,
                "file_size": len(document.data),
            }
        }
        if params.get("caption"):
            caption, entities = self._format(params, "caption")
            if utf16_len(caption) > 1024:
                raise _bad_request("message caption is too long")
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        inline, other = self._markup(params)
        if inline is not None:
            content["reply_markup"] = inline
        message = self._send(known, params, content, other_markup=other)
        self.documents[(known.chat["id"], message["message_id"])] = document
        return message

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        """A picture by the file id of one the server holds, or uploaded in the request
        (multipart); a caption of up to 1024 characters."""
        known = self._target(params)
        photo = params.get("photo")
        if isinstance(photo, str) and photo.startswith("attach://"):
            photo = params.get(photo.removeprefix("attach://"))
        if isinstance(photo, UploadedFile):
            if not photo.data:
                raise _bad_request("file must be non-empty")
            file_id = self._new_photo_file()
        elif isinstance(photo, str) and photo in self._photo_files:
            file_id = photo
        else:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        content: JSONDict = {"photo": _photo_sizes(file_id)}
        if params.get("caption"):
            caption, entities = self._format(params, "caption")
            if utf16_len(caption) > 1024:
                raise _bad_request("message caption is too long")
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        inline, other = self._markup(params)
        if inline is not None:
            content["reply_markup"] = inline
        message = self._send(known, params, content, other_markup=other)
        self.photos[(known.chat["id"], message["message_id"])] = file_id
        if isinstance(photo, UploadedFile):
            self.uploaded_photos[(known.chat["id"], message["message_id"])] = photo
        return message

    def _new_photo_file(self) -> str:
        file_id = f"photo-{len(self._photo_files) + 1}"
        self._photo_files.add(file_id)
        return file_id

    async def _send_invoice(self, params: JSONDict) -> JSONDict:
        known = self._target(params)
        title = self._str(params, "title", required=True)
        description = self._str(params, "description", required=True)
        payload = self._str(params, "payload", required=True)
        currency = self._str(params, "currency", required=True)
        assert title is not None and description is not None
        assert payload is not None and currency is not None
        if not 1 <= len(title) <= 32:
            raise _bad_request("TITLE_INVALID")
        if not 1 <= len(description) <= 255:
            raise _bad_request("DESCRIPTION_INVALID")
        if not 1 <= len(payload.encode()) <= 128:
            raise _bad_request("PAYLOAD_INVALID")
        if not _CURRENCY.fullmatch(currency):
            raise _bad_request("CURRENCY_INVALID")
        prices = params.get("prices")
        if not isinstance(prices, list) or not prices:
            raise _bad_request('parameter "prices" is required')
        total = 0
        for price in prices:
            amount = price.get("amount") if isinstance(price, dict) else None
            if isinstance(amount, bool) or not isinstance(amount, int) or "label" not in price:
                raise _bad_request("can't parse prices JSON object")
            total += amount
        if currency == "XTR" and len(prices) != 1:
            raise _bad_request("STARS_INVOICE_INVALID")
        if total <= 0:
            raise _bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        inline, other = self._markup(params)
        content: JSONDict = {
            "invoice": {
                "title": title,
                "description": description,
                "start_parameter": self._str(params, "start_parameter") or "",
                "currency": currency,
                "total_amount": total,
            }
        }
        if inline is not None:
            content["reply_markup"] = inline
        message = self._send(known, params, content, other_markup=other)
        self._invoices[(known.chat["id"], message["message_id"])] = {
            "payload": payload,
            "currency": currency,
            "total_amount": total,
            "prices": copy.deepcopy(prices),
        }
        return message

    async def _answer_pre_checkout_query(self, params: JSONDict) -> bool:
        query_id = self._str(params, "pre_checkout_query_id", required=True)
        assert query_id is not None
        ok = params.get("ok")
        if not isinstance(ok, bool):
            raise _bad_request('parameter "ok" is required')
        error_message = self._str(params, "error_message")
        if not ok and not error_message:
            raise _bad_request("ERROR_MESSAGE_EMPTY")
        update_id = self._open_pre_checkout_queries.pop(query_id, None)
        if update_id is None:
            raise _bad_request(_QUERY_INVALID)
        self.pre_checkout_answers.append(
            {
                "pre_checkout_query_id": query_id,
                "update_id": update_id,
                "ok": ok,
                "error_message": error_message,
            }
        )
        return True

    # ===================================================================== test driver: setup

    def add_user(self, user: FakeUser) -> JSONDict:
        """Make the private chat with ``user`` known (as if they had started the bot earlier)."""
        self._users[user.id] = user
        known = self._chats.get(user.id)
        if known is None:
            known = self._chats[user.id] = _Known(chat=user.private_chat())
        else:
            known.chat = user.private_chat()
        return copy.deepcopy(known.chat)

    def add_group(self, group: FakeGroup, *, bot_is_admin: bool = False) -> JSONDict:
        """Make ``group`` known with the bot as a member (an admin sees all messages)."""
        known = self._chats.get(group.id)
        if known is None:
            known = self._chats[group.id] = _Known(chat=group.to_api())
        known.bot_is_admin = bot_is_admin
        return copy.deepcopy(known.chat)

    def create_topic(
        self,
        group: FakeGroup | int,
        name: str,
        *,
        creator: FakeUser | None = None,
        icon_color: int = 7322096,
    ) -> int:
        """Open a forum topic (as a user, or the bot when ``creator`` is None); its thread id."""
        known = self._group(group)
        if not known.chat.get("is_forum"):
            raise ValueError(f"chat {known.chat['id']} is not a forum")
        sender = creator.to_api() if creator is not None else self.bot_user
        return self._open_topic(known, sender, name, icon_color)

    def block_user(self, user_id: int, *, notify: bool = True) -> None:
        """The user blocks the bot: sends to them answer 403 from now on.

        With ``notify`` a ``my_chat_member`` update (member -> kicked) is emitted, as Telegram does.
        """
        self._blocked.add(user_id)
        if notify and user_id in self._users:
            self._emit_member_change(self._users[user_id], "member", "kicked")

    def unblock_user(self, user_id: int, *, notify: bool = True) -> None:
        """The user unblocks the bot (kicked -> member)."""
        was_blocked = user_id in self._blocked
        self._blocked.discard(user_id)
        if notify and was_blocked and user_id in self._users:
            self._emit_member_change(self._users[user_id], "kicked", "member")

    def fail_next(
        self,
        method: str,
        status: int = 500,
        description: str = "Internal Server Error",
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``method`` answer this error instead of working."""
        parameters: JSONDict | None = None
        if status == 429:
            parameters = {"retry_after": retry_after if retry_after is not None else 1}
        self._injected.setdefault(method.lower(), deque()).append(
            _Injected(status, description, parameters, times)
        )

    # ==================================================================== test driver: updates

    def _emit(self, kind: str, payload: JSONDict, *, deliver: bool = True) -> int:
        self._last_action = self.mark()
        update: JSONDict = {"update_id": next(self._update_ids), kind: payload}
        self.updates.append(update)
        if deliver and self._update_allowed(kind):
            self._pending.append(update)
        else:
            self.filtered_updates.append(update)
        self._notify()
        return int(update["update_id"])

    def _emit_member_change(self, user: FakeUser, old: str, new: str) -> None:
        bot = {**self.bot_user, "is_bot": True}
        new_member: JSONDict = {"status": new, "user": bot}
        if new == "kicked":
            new_member["until_date"] = 0
        self._emit(
            "my_chat_member",
            {
                "chat": user.private_chat(),
                "from": user.to_api(),
                "date": int(self._clock()),
                "old_chat_member": {"status": old, "user": bot},
                "new_chat_member": new_member,
            },
        )

    def _group(self, group: FakeGroup | int) -> _Known:
        if isinstance(group, FakeGroup):
            if group.id not in self._chats:
                self.add_group(group)
            return self._chats[group.id]
        known = self._chats.get(group)
        if known is None:
            raise LookupError(f"unknown chat {group}: add_group() it first")
        return known

    def _user_chat(self, user: FakeUser, chat: FakeGroup | int | None) -> _Known:
        self._users[user.id] = user
        if chat is None or chat == user.id:
            if user.id in self._blocked:
                self.unblock_user(user.id)
            self.add_user(user)
            return self._chats[user.id]
        return self._group(chat)

    def _stored(self, message: JSONDict) -> JSONDict:
        known = self._chats.get(message["chat"]["id"])
        current = known.messages.get(message["message_id"]) if known else None
        if current is None:
            raise LookupError(
                f"message {message['message_id']} in chat {message['chat']['id']} does not "
                "exist (deleted?)"
            )
        return current

    def _bot_sees(self, known: _Known, message: JSONDict) -> bool:
        """Group privacy mode: which group messages reach a bot that is not an admin."""
        if known.chat["type"] == "private" or known.bot_is_admin or not self.privacy_mode:
            return True
        reply = message.get("reply_to_message")
        if reply is not None and reply.get("from", {}).get("id") == self.bot_id:
            return True
        text = str(message.get("text", ""))
        if f"@{self.bot_username}".lower() in text.lower():
            return True
        command = _COMMAND.match(text)
        return command is not None and command.group(2) in (None, self.bot_username)

    def _user_message(
        self,
        user: FakeUser,
        chat: FakeGroup | int | None,
        content: JSONDict,
        *,
        reply_to_message: JSONDict | None = None,
        message_thread_id: int | None = None,
    ) -> int:
        known = self._user_chat(user, chat)
        reply = self._stored(reply_to_message) if reply_to_message is not None else None
        thread = message_thread_id
        if known.chat.get("is_forum"):
            if thread is None and reply is not None:
                thread = reply.get("message_thread_id")
            if thread is not None and thread not in known.topics:
                raise LookupError(f"no topic {thread} in chat {known.chat['id']}")
        else:
            thread = None
        message = self._new_message(known, user.to_api(), content, reply_to=reply, thread=thread)
        return self._emit("message", copy.deepcopy(message), deliver=self._bot_sees(known, message))

    def send_text(
        self,
        user: FakeUser,
        text: str,
        *,
        chat: FakeGroup | int | None = None,
        reply_to_message: JSONDict | None = None,
        message_thread_id: int | None = None,
    ) -> int:
        """``user`` sends ``text`` (private chat unless ``chat``); returns the update_id.

        Commands get ``bot_command`` entities like Telegram sends. In a group under privacy mode
        a message the bot would not see is stored but not delivered (see ``filtered_updates``).
        """
        content: JSONDict = {"text": text}
        entities = _command_entities(text)
        if entities:
            content["entities"] = entities
        return self._user_message(
            user,
            chat,
            content,
            reply_to_message=reply_to_message,
            message_thread_id=message_thread_id,
        )

    def send_reply(
        self,
        user: FakeUser,
        chat_id: FakeGroup | int,
        reply_to_message: JSONDict,
        text: str,
        *,
        message_thread_id: int | None = None,
    ) -> int:
        """``user`` replies with ``text`` to ``reply_to_message`` (e.g. a bot message) in a chat.

        In a forum the reply lands in the replied message's topic unless ``message_thread_id``.
        """
        return self.send_text(
            user,
            text,
            chat=chat_id,
            reply_to_message=reply_to_message,
            message_thread_id=message_thread_id,
        )

    def share_contact(
        self,
        user: FakeUser,
        phone_number: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        user_id: int | None = None,
        chat: FakeGroup | int | None = None,
    ) -> int:
        """``user`` shares a contact; by default their own (``user_id`` = theirs), as the
        ``request_contact`` keyboard button does. Pass ``user_id=0`` for a contact without one."""
        contact: JSONDict = {
            "phone_number": phone_number,
            "first_name": first_name if first_name is not None else user.first_name,
        }
        last = (
            last_name if last_name is not None else (user.last_name if first_name is None else None)
        )
        if last is not None:
            contact["last_name"] = last
        owner = user.id if user_id is None else user_id
        if owner:
            contact["user_id"] = owner
        return self._user_message(user, chat, {"contact": contact})

    def send_photo(
        self, user: FakeUser, *, caption: str = "", chat: FakeGroup | int | None = None
    ) -> str:
        """``user`` sends a picture (with ``caption``, if any); returns its file id (the largest
        size's), which the bot may send again with sendPhoto."""
        file_id = self._new_photo_file()
        content: JSONDict = {"photo": _photo_sizes(file_id)}
        if caption:
            content["caption"] = caption
        self._user_message(user, chat, content)
        return file_id

    def press_keyboard_button(
        self, user: FakeUser, text: str, *, phone_number: str | None = None
    ) -> int:
        """``user`` taps a button of the reply keyboard the bot currently shows them.

        A ``request_contact`` button shares the user's own contact (``phone_number``, default
        ``"+1555"`` + user id); other buttons send their text. ``LookupError`` if no such button.
        """
        known = self._chats.get(user.id)
        keyboard = known.reply_keyboard if known is not None else None
        if keyboard is None:
            raise LookupError(f"the bot shows no reply keyboard to user {user.id}")
        for row in keyboard.get("keyboard", []):
            for button in row:
                label = button if isinstance(button, str) else button.get("text")
                if label != text:
                    continue
                if isinstance(button, dict) and button.get("request_contact"):
                    return self.share_contact(user, phone_number or f"+1555{user.id}")
                return self.send_text(user, text)
        raise LookupError(f"no reply keyboard button {text!r}; keyboard: {keyboard}")

    def press_button(
        self,
        user: FakeUser,
        message: JSONDict,
        callback_data: str | None = None,
        *,
        text: str | None = None,
        check: bool = True,
    ) -> int:
        """``user`` presses an inline button of a bot ``message``; returns the update_id.

        The button is found in the message as currently stored (after edits) by
        ``callback_data`` or by its ``text``; with ``check`` a missing button raises
        ``LookupError`` (a real user cannot press a button that is not there).
        """
        current = self._stored(message)
        buttons = [
            button
            for row in current.get("reply_markup", {}).get("inline_keyboard", [])
            for button in row
        ]
        if text is not None:
            matches = [b for b in buttons if b.get("text") == text and "callback_data" in b]
            if not matches:
                raise LookupError(f"no callback button labelled {text!r}: {buttons}")
            callback_data = matches[0]["callback_data"]
        if callback_data is None:
            raise ValueError("give callback_data or text")
        if check and callback_data not in [b.get("callback_data") for b in buttons]:
            raise LookupError(f"no button with callback_data {callback_data!r}: {buttons}")
        self._users[user.id] = user
        query_id = str(next(self._query_ids))
        chat_id = int(current["chat"]["id"])
        update_id = self._emit(
            "callback_query",
            {
                "id": query_id,
                "from": user.to_api(),
                "message": copy.deepcopy(current),
                "chat_instance": str((chat_id * 2_654_435_761) % (2**63)),
                "data": callback_data,
            },
        )
        self._open_callback_queries[query_id] = update_id
        return update_id

    def send_pre_checkout_query(
        self,
        user: FakeUser,
        *,
        currency: str,
        total_amount: int,
        invoice_payload: str,
        shipping_option_id: str | None = None,
        order_info: JSONDict | None = None,
    ) -> int:
        """``user`` confirms a payment: a ``pre_checkout_query`` update; returns the update_id.

        The query id is ``api.update(update_id)["pre_checkout_query"]["id"]``; the bot's answer
        appears in ``pre_checkout_answers``.
        """
        self._users[user.id] = user
        query_id = str(next(self._query_ids))
        query: JSONDict = {
            "id": query_id,
            "from": user.to_api(),
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": invoice_payload,
        }
        if shipping_option_id is not None:
            query["shipping_option_id"] = shipping_option_id
        if order_info is not None:
            query["order_info"] = order_info
        update_id = self._emit("pre_checkout_query", query)
        self._open_pre_checkout_queries[query_id] = update_id
        return update_id

    def send_successful_payment(
        self,
        user: FakeUser,
        *,
        currency: str,
        total_amount: int,
        invoice_payload: str,
        telegram_payment_charge_id: str | None = None,
        provider_payment_charge_id: str | None = None,
        chat: FakeGroup | int | None = None,
    ) -> int:
        """The service message Telegram sends after a payment succeeded; returns the update_id."""
        number = next(self._charge_ids)
        payment: JSONDict = {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": invoice_payload,
            "telegram_payment_charge_id": telegram_payment_charge_id or f"stxTEST{number:012d}",
            "provider_payment_charge_id": provider_payment_charge_id
            if provider_payment_charge_id is not None
            else f"provider_{number:08d}",
        }
        return self._user_message(user, chat, {"successful_payment": payment})

    async def pay_invoice(
        self,
        user: FakeUser,
        invoice_message: JSONDict,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> bool:
        """The whole payment flow for an invoice the bot sent: pre_checkout_query, wait for the
        bot's answer, and on ``ok`` the ``successful_payment`` message. True when paid."""
        key = (int(invoice_message["chat"]["id"]), int(invoice_message["message_id"]))
        invoice = self._invoices.get(key)
        if invoice is None:
            raise LookupError(f"no invoice sent as message {key}")
        update_id = self.send_pre_checkout_query(
            user,
            currency=invoice["currency"],
            total_amount=invoice["total_amount"],
            invoice_payload=invoice["payload"],
        )
        answer = await self.wait_for_pre_checkout_answer(update_id, timeout=timeout)
        if not answer["ok"]:
            return False
        self.send_successful_payment(
            user,
            currency=invoice["currency"],
            total_amount=invoice["total_amount"],
            invoice_payload=invoice["payload"],
        )
        return True

    # ================================================================== test driver: inspecting

    def mark(self) -> Mark:
        """Current positions of the logs, for ``after=`` of the ``wait_for_*`` helpers."""
        return Mark(
            calls=len(self.calls),
            sent=len(self._sent),
            edits=len(self.edits),
            callback_answers=len(self.callback_answers),
            pre_checkout_answers=len(self.pre_checkout_answers),
        )

    @property
    def last_action(self) -> Mark:
        """The mark taken just before the latest simulated update (the default ``after``)."""
        return self._last_action

    def calls_to(self, method: str) -> list[JSONDict]:
        """Parameters of every call of ``method`` (case-insensitive), oldest first."""
        return [call.params for call in self.calls if call.method.lower() == method.lower()]

    def update(self, update_id: int) -> JSONDict:
        """The update with this id, as created."""
        for update in self.updates:
            if update["update_id"] == update_id:
                return copy.deepcopy(update)
        raise LookupError(f"no update {update_id}")

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by getUpdates (or not yet delivered to the webhook)."""
        return copy.deepcopy(self._pending)

    @property
    def webhook_url(self) -> str | None:
        return self._webhook.url if self._webhook else None

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """A message as currently stored (any sender), or None if unknown/deleted."""
        known = self._chats.get(chat_id)
        found = known.messages.get(message_id) if known else None
        return copy.deepcopy(found) if found is not None else None

    def chat_history(self, chat_id: int) -> list[JSONDict]:
        """All messages currently in the chat (users' and the bot's), by message_id."""
        known = self._chats.get(chat_id)
        if known is None:
            return []
        return [copy.deepcopy(known.messages[k]) for k in sorted(known.messages)]

    def messages_to(self, chat_id: int) -> list[JSONDict]:
        """The bot's messages currently in the chat (edited state, deleted ones gone)."""
        return [m for m in self.chat_history(chat_id) if m["from"]["id"] == self.bot_id]

    def reply_keyboard(self, chat_id: int) -> JSONDict | None:
        """The ReplyKeyboardMarkup the bot last sent to the chat (None after a removal)."""
        known = self._chats.get(chat_id)
        return copy.deepcopy(known.reply_keyboard) if known and known.reply_keyboard else None

    def commands(self, scope: JSONDict | None = None, language_code: str = "") -> list[JSONDict]:
        """Commands set with setMyCommands for a scope (default scope) and language."""
        key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
        return copy.deepcopy(self._commands.get(key, []))

    def unanswered_callback_queries(self) -> list[str]:
        """Ids of callback queries the bot has not answered (the user sees a spinner)."""
        return list(self._open_callback_queries)

    # ==================================================================== test driver: waiting

    def hold(self, chat_id: int, methods: Collection[str] = ("sendMessage",)) -> asyncio.Event:
        """Make every call of `methods` (sendMessage unless told, e.g. editMessageText) to
        `chat_id` wait (the bot's turn in that chat stays under way) until the returned event is
        set."""
        event, _ = self._held_chats.setdefault(str(chat_id), (asyncio.Event(), frozenset(methods)))
        return event

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        what: str | None = None,
    ) -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every change); return its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._timeout_report(what or "condition", timeout))
            await self._wait_changed(remaining)

    def _timeout_report(self, what: str, timeout: float) -> str:
        calls = [call.method for call in self.calls[-15:]]
        errors = [f"{e.method}: {e.error_code} {e.description}" for e in self.errors[-5:]]
        return (
            f"timed out after {timeout}s waiting for {what}; last bot calls: {calls}; "
            f"last errors: {errors}; pending updates: {len(self._pending)}; "
            f"internal errors: {self.internal_errors[-3:]}"
        )

    async def wait_for_message(
        self,
        chat_id: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        after: Mark | None = None,
    ) -> list[JSONDict]:
        """Wait until the bot has sent ``count`` messages to ``chat_id`` since ``after`` (default:
        the latest simulated update); return all of them, oldest first, as currently stored (as
        sent if deleted since)."""
        start = (after or self._last_action).sent

        def ready() -> list[JSONDict] | None:
            sent = [(m, s) for c, m, s in self._sent[start:] if c == chat_id]
            if len(sent) < count:
                return None
            return [self.message(chat_id, mid) or copy.deepcopy(snap) for mid, snap in sent]

        result = await self.wait_for(
            ready, timeout, what=f"{count} bot message(s) to chat {chat_id}"
        )
        return result

    async def wait_for_call(
        self,
        method: str,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        after: Mark | None = None,
        where: Callable[[JSONDict], bool] | None = None,
    ) -> ApiCall:
        """Wait for the first call of ``method`` since ``after`` (default: the latest simulated
        update) whose params satisfy ``where``."""
        start = (after or self._last_action).calls
        wanted = method.lower()

        def found() -> ApiCall | None:
            for call in self.calls[start:]:
                if call.method.lower() == wanted and (where is None or where(call.params)):
                    return call
            return None

        return await self.wait_for(found, timeout, what=f"a {method} call")

    async def wait_for_edit(
        self,
        chat_id: int,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        after: Mark | None = None,
    ) -> JSONDict:
        """Wait for the bot to edit a message in ``chat_id``; return the edited message."""
        start = (after or self._last_action).edits

        def found() -> JSONDict | None:
            for edit in self.edits[start:]:
                if edit["chat_id"] == chat_id:
                    return copy.deepcopy(edit["message"])
            return None

        return await self.wait_for(found, timeout, what=f"an edit in chat {chat_id}")

    async def wait_for_callback_answer(
        self,
        update_id: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> JSONDict:
        """Wait for the answer to the callback query of ``update_id`` (default: any new one)."""
        start = self._last_action.callback_answers

        def found() -> JSONDict | None:
            answers = (
                self.callback_answers if update_id is not None else self.callback_answers[start:]
            )
            for answer in answers:
                if update_id is None or answer["update_id"] == update_id:
                    return answer
            return None

        return await self.wait_for(found, timeout, what="answerCallbackQuery")

    async def wait_for_pre_checkout_answer(
        self,
        update_id: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> JSONDict:
        """Wait for the answer to the pre-checkout query of ``update_id`` (default: any new)."""
        start = self._last_action.pre_checkout_answers

        def found() -> JSONDict | None:
            answers = (
                self.pre_checkout_answers
                if update_id is not None
                else self.pre_checkout_answers[start:]
            )
            for answer in answers:
                if update_id is None or answer["update_id"] == update_id:
                    return answer
            return None

        return await self.wait_for(found, timeout, what="answerPreCheckoutQuery")

    async def wait_until_consumed(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every update was confirmed by getUpdates or delivered to the webhook."""
        await self.wait_for(lambda: not self._pending, timeout, what="updates to be consumed")
