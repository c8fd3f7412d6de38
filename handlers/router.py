"""The conversation router: one place where every event finds its handler.

Per event: the customer is registered or recognised and their conversation state loaded (one
transaction), the handler runs (its use cases commit their own transactions), and the new state
is saved when it changed. Features register their commands, buttons and steps at build time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from domain.conversation import IDLE, ConversationState
from domain.customers import Customer
from domain.errors import DatabaseBusy
from domain.languages import Language, language_from_telegram
from domain.services.registry import Services
from handlers.buttons import ButtonData, unpack
from handlers.contract import (
    Button,
    EventKind,
    Incoming,
    Invoice,
    Outcome,
    Reply,
    ReplyKeyboard,
)
from handlers.i18n import Texts, texts
from handlers.outage import OutageLog

log = logging.getLogger(__name__)

B = TypeVar("B", bound=ButtonData)


@dataclass
class Context:
    """What a handler sees of one event, and where it puts its answer."""

    event: Incoming
    customer: Customer
    state: ConversationState
    services: Services
    outcome: Outcome = field(default_factory=Outcome)
    # False once the customer's data was erased in this turn: nothing of them is written back.
    keep_state: bool = True
    # Whether the customer has agreed to the privacy notice, as the turn began (or since).
    consented: bool = False
    # Whether the customer has set a payment PIN, as the turn began.
    pin_set: bool = False

    @property
    def t(self) -> Texts:
        return texts(self.customer.language)

    @property
    def language(self) -> Language:
        return self.customer.language

    def reply(
        self,
        text: str,
        buttons: tuple[tuple[Button, ...], ...] = (),
        *,
        keyboard: ReplyKeyboard | None = None,
        edit: bool = False,
    ) -> None:
        """Answer in the event's chat. `edit` replaces the pressed button's message if any."""
        can_edit = edit and self.event.kind is EventKind.BUTTON and self.event.message_id
        self.outcome.replies.append(
            Reply(text=text, buttons=buttons, keyboard=keyboard, edit=bool(can_edit))
        )

    def send_invoice(self, invoice: Invoice) -> None:
        self.outcome.replies.append(Reply(text=invoice.title, invoice=invoice))

    def delete_event_message(self) -> None:
        """Delete the message this event came with from the chat (a PIN, once read)."""
        if self.event.message_id is not None:
            self.outcome.delete_messages.append(self.event.message_id)

    def notice(self, text: str) -> None:
        self.outcome.notice = text

    def after_delivery(self, then: Callable[[], Awaitable[None]]) -> None:
        """Run `then` once the front end delivered this turn's replies (never if it could
        not): for records that say a customer was told."""
        self.outcome.after_delivery.append(then)

    async def staff_only(self) -> bool:
        """True when the person behind this event is staff. Anyone else gets a polite refusal
        (a notice under a pressed button, a reply to a command) and the caller does nothing."""
        if await self.services.staff.is_staff(self.event.user.telegram_id):
            return True
        if self.event.callback_id is not None:
            self.notice(self.t("staff.only"))
        else:
            self.reply(self.t("staff.only"))
        return False

    def go(self, step: str, **data: Any) -> None:
        self.state = ConversationState(step=step, data=data)

    def finish(self) -> None:
        self.state = ConversationState()

    def switch_customer(self, customer: Customer) -> None:
        """Continue this turn with the customer as a use case returned them (new language)."""
        self.customer = customer


def normalise_word(text: str) -> str:
    """A typed word as keywords are kept: trimmed, lowercased, without closing punctuation."""
    return text.strip().strip("!！?？.。~").strip().lower()


def busy(event: Incoming, t: Texts) -> Outcome:
    """What a customer is told when no database connection came free in time."""
    if event.kind is EventKind.PRE_CHECKOUT:
        return Outcome(pre_checkout_error=t("busy.try_again"))
    return Outcome(replies=[Reply(t("busy.try_again"))])


def failure(event: Incoming, t: Texts) -> Outcome:
    """What a customer is told when something failed on our side."""
    if event.kind is EventKind.PRE_CHECKOUT:
        return Outcome(pre_checkout_error=t("error.internal"))
    return Outcome(replies=[Reply(t("error.internal"))])


Handler = Callable[[Context], Awaitable[None]]
ButtonHandler = Callable[[Context, Any], Awaitable[None]]
# Sees a typed text before its step does; True when it took the text (a reply to a ticket).
TextHook = Callable[[Context], Awaitable[bool]]


@dataclass(frozen=True)
class MenuEntry:
    order: int
    text_key: str
    data: ButtonData


class ConversationRouter:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._commands: dict[str, Handler] = {}
        # Names in registration order, and those only staff may use (for /help and the menu).
        self._command_order: list[str] = []
        self._staff_commands: set[str] = set()
        self._buttons: dict[type[ButtonData], ButtonHandler] = {}
        self._steps: dict[str, Handler] = {}
        self._menu: list[MenuEntry] = []
        # The main menu in each language it was shown in; the same buttons every time.
        self._menus: dict[Language, tuple[tuple[Button, ...], ...]] = {}
        self._idle_text: list[tuple[Callable[[str], bool], Handler]] = []
        # Words a customer may type instead of pressing a button ("充值", "help"): lowercased.
        self._keywords: dict[str, Handler] = {}
        self._step_text: dict[str, list[tuple[Callable[[str], bool], Handler]]] = {}
        self._photo_steps: dict[str, Handler] = {}
        self._contact: Handler | None = None
        self._pre_checkout: Handler | None = None
        self._payment: Handler | None = None
        self._fallback: Handler | None = None
        self._stale_button: Handler | None = None
        self._unknown_command: Handler | None = None
        # The bot's @username for links (t.me/<bot>): from settings or the front end's getMe.
        self.bot_username: str | None = None
        # The staff chat where tickets are posted (None: none is set; staff use /tickets).
        self.staff_chat_id: int | None = None
        # Where staff open the dashboard (its public base URL; None: the dashboard is off).
        self.dashboard_url: str | None = None
        # Told of every event handled and the seconds its answer took (metrics).
        self.observers: list[Callable[[Incoming, float], None]] = []
        self._text_hooks: list[TextHook] = []
        # A database outage is logged when it starts and when it ends, not once per turn.
        self.outage = OutageLog()

    # -- registration -------------------------------------------------------------------------
    def command(self, *names: str, staff: bool = False) -> Callable[[Handler], Handler]:
        """Handle /name; `staff`: a staff command (listed to staff only in /help and menus).
        Each name is described by the text key `command.<name>`."""

        def register(handler: Handler) -> Handler:
            for name in names:
                if name in self._commands:
                    raise ValueError(f"command /{name} registered twice")
                self._commands[name] = handler
                self._command_order.append(name)
                if staff:
                    self._staff_commands.add(name)
            return handler

        return register

    def button(self, data_type: type[B]) -> Callable[[ButtonHandler], ButtonHandler]:
        def register(handler: ButtonHandler) -> ButtonHandler:
            if data_type in self._buttons:
                raise ValueError(f"button {data_type.__name__} registered twice")
            self._buttons[data_type] = handler
            return handler

        return register

    def step(self, name: str) -> Callable[[Handler], Handler]:
        """Handle text typed (or a contact shared) while the conversation is at step `name`."""

        def register(handler: Handler) -> Handler:
            self._steps[name] = handler
            return handler

        return register

    def photo_step(self, name: str) -> Callable[[Handler], Handler]:
        """Handle a picture sent while the conversation is at step `name` (at any other step,
        and at none, a picture is not answered)."""

        def register(handler: Handler) -> Handler:
            self._photo_steps[name] = handler
            return handler

        return register

    def idle_text(self, matches: Callable[[str], bool]) -> Callable[[Handler], Handler]:
        """Handle text typed at no particular step when `matches(text)`; first match wins."""

        def register(handler: Handler) -> Handler:
            self._idle_text.append((matches, handler))
            return handler

        return register

    def keyword(self, *words: str) -> Callable[[Handler], Handler]:
        """Handle a typed word (whole message, any case, at no step waiting for text) as the
        button it names: "充值" opens recharge."""

        def register(handler: Handler) -> Handler:
            for word in words:
                key = normalise_word(word)
                if key in self._keywords:
                    raise ValueError(f"keyword {word!r} registered twice")
                self._keywords[key] = handler
            return handler

        return register

    def step_text(self, step: str, matches: Callable[[str], bool]) -> Callable[[Handler], Handler]:
        """Handle text typed at `step` when `matches(text)`, for a step that shows buttons
        rather than waiting for text (a typed amount on the denomination grid)."""

        def register(handler: Handler) -> Handler:
            self._step_text.setdefault(step, []).append((matches, handler))
            return handler

        return register

    def contact(self, handler: Handler) -> Handler:
        self._contact = handler
        return handler

    def pre_checkout(self, handler: Handler) -> Handler:
        self._pre_checkout = handler
        return handler

    def payment(self, handler: Handler) -> Handler:
        self._payment = handler
        return handler

    def fallback(self, handler: Handler) -> Handler:
        self._fallback = handler
        return handler

    def stale_button(self, handler: Handler) -> Handler:
        self._stale_button = handler
        return handler

    def unknown_command(self, handler: Handler) -> Handler:
        self._unknown_command = handler
        return handler

    def text_hook(self, hook: TextHook) -> TextHook:
        """Offer every typed text (any step, any chat) to `hook` first; in registration order."""
        self._text_hooks.append(hook)
        return hook

    def menu_entry(self, order: int, text_key: str, data: ButtonData) -> None:
        self._menu.append(MenuEntry(order, text_key, data))
        self._menu.sort(key=lambda entry: entry.order)
        self._menus.clear()

    @property
    def commands(self) -> frozenset[str]:
        return frozenset(self._commands)

    def command_names(self, *, staff: bool) -> list[str]:
        """The customer's commands (staff=False) or the staff's own, in registration order."""
        return [name for name in self._command_order if (name in self._staff_commands) == staff]

    def menu_buttons(self, t: Texts) -> tuple[tuple[Button, ...], ...]:
        """The main menu: two buttons a row, only features that are registered."""
        menu = self._menus.get(t.language)
        if menu is None:
            buttons = [Button(t(entry.text_key), data=entry.data.pack()) for entry in self._menu]
            menu = tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
            self._menus[t.language] = menu
        return menu

    # -- dispatch -----------------------------------------------------------------------------
    async def handle(self, event: Incoming) -> Outcome:
        """The answer to one event. Whatever fails, the customer gets a clear answer and
        nothing half-done is kept (each use case rolled back its own transaction)."""
        started = time.perf_counter()
        try:
            return await self._answer(event)
        finally:
            elapsed = time.perf_counter() - started
            for observe in self.observers:
                observe(event, elapsed)

    async def _answer(self, event: Incoming) -> Outcome:
        try:
            turn = await self.services.customers.begin_turn(event.user, event.chat_id)
        except DatabaseBusy as error:
            # Nothing was done: the front end asks the customer to try again and has the
            # update delivered again (and logs it).
            self.outage.noted(error)
            raise
        except Exception as error:
            what = f"starting a turn for a {event.kind} event"
            self.outage.failed(error, what, only_the_database=True, chat_id=event.chat_id)
            return failure(event, texts(language_from_telegram(event.language_code)))
        self.outage.succeeded()
        ctx = Context(
            event,
            turn.customer,
            turn.state,
            self.services,
            consented=turn.consented,
            pin_set=turn.pin_set,
        )
        try:
            await self._dispatch(ctx)
            if ctx.keep_state and ctx.state != turn.state:
                await self.services.conversations.save(
                    event.chat_id, event.user.telegram_id, ctx.state
                )
        except DatabaseBusy as error:
            # Part of the turn may be done already: the customer is asked to try again rather
            # than the update being worked twice.
            self.outage.failed(error, f"handling a {event.kind} event", chat_id=event.chat_id)
            return busy(event, ctx.t)
        except Exception as error:
            self.outage.failed(error, f"handling a {event.kind} event", chat_id=event.chat_id)
            return failure(event, ctx.t)
        return ctx.outcome

    async def _dispatch(self, ctx: Context) -> None:
        event = ctx.event
        if event.kind is EventKind.BUTTON:
            data = unpack(event.button_data)
            handler = self._buttons.get(type(data)) if data is not None else None
            if handler is None:
                log.info("stale or unknown button data %r", event.button_data)
                await self._call(self._stale_button, ctx)
                return
            await handler(ctx, data)
            return
        if event.kind is EventKind.COMMAND:
            command = self._commands.get(event.command or "")
            await self._call(command or self._unknown_command, ctx)
            return
        if event.kind is EventKind.PRE_CHECKOUT:
            await self._call(self._pre_checkout, ctx)
            return
        if event.kind is EventKind.PAYMENT:
            await self._call(self._payment, ctx)
            return
        if event.kind is EventKind.TEXT:
            for hook in self._text_hooks:
                if await hook(ctx):
                    return
        step = self._steps.get(ctx.state.step) if ctx.state.step != IDLE else None
        if event.kind is EventKind.CONTACT:
            await self._call(step or self._contact or self._fallback, ctx)
            return
        if event.kind is EventKind.PHOTO:
            photo_step = self._photo_steps.get(ctx.state.step)
            if photo_step is not None:
                await self._call(photo_step, ctx)
            return  # a picture nobody asked for is not answered
        if step is None:
            step = next(
                (
                    h
                    for matches, h in self._step_text.get(ctx.state.step, ())
                    if matches(event.text)
                ),
                None,
            )
        if step is None:
            step = self._keywords.get(normalise_word(event.text))
        if step is None:
            step = next((h for matches, h in self._idle_text if matches(event.text)), None)
        await self._call(step or self._fallback, ctx)

    async def press(self, ctx: Context, data: ButtonData) -> None:
        """Run the handler of a button as if `data` had been pressed (a button that leads on
        to another feature's screen)."""
        handler = self._buttons.get(type(data))
        if handler is None:
            await self._call(self._stale_button, ctx)
            return
        await handler(ctx, data)

    @staticmethod
    async def _call(handler: Handler | None, ctx: Context) -> None:
        if handler is None:
            raise LookupError(f"no handler for {ctx.event.kind} event")
        await handler(ctx)


__all__ = ["Context", "ConversationRouter", "Handler", "MenuEntry"]
