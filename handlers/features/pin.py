"""/pin: set or change the payment PIN, and reading a PIN wherever one is asked (paying,
redeeming). Every message that may hold a PIN is deleted from the chat as soon as it is read;
the digits are never kept, not even in the conversation state (a new PIN waiting for its
repetition is kept as its salted hash)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.orders import CHINA
from domain.phone import PhoneNumberError, parse_phone_number
from domain.pin import PinCheck, PinOutcome, valid_pin
from handlers.buttons import ButtonData
from handlers.contract import Button, ContactKeyboard, EventKind, RemoveKeyboard
from handlers.menu import back_to_menu
from handlers.router import Context, ConversationRouter

CURRENT = "pin.current"
NEW = "pin.new"
REPEAT = "pin.repeat"
RESET = "pin.reset"


@dataclass(frozen=True)
class ForgotPin(ButtonData, prefix="pinforgot"):
    """Reset a forgotten PIN: share the Telegram contact of a number verified on the account."""


def _forgot_row(ctx: Context) -> tuple[Button, ...]:
    return (Button(ctx.t("pin.forgot"), ForgotPin().pack()),)


def ask_pin(ctx: Context, step: str, **data: object) -> None:
    """Ask for the PIN before what `step` does next (its handler calls `read_pin`)."""
    ctx.go(step, **data)
    ctx.reply(ctx.t("pin.ask"), (back_to_menu(ctx.t),))


def _typed(ctx: Context) -> str | None:
    """The text of a typed message, deleted from the chat; None for anything else."""
    if ctx.event.kind is not EventKind.TEXT:
        return None
    ctx.delete_event_message()
    return ctx.event.text.strip()


def explain(ctx: Context, check: PinCheck) -> None:
    """What the customer is told of a PIN that was not right."""
    if check.outcome is PinOutcome.WRONG:
        ctx.reply(ctx.t("pin.wrong", left=check.tries_left), (back_to_menu(ctx.t),))
        return
    if check.outcome is PinOutcome.LOCKED:
        until = check.locked_until.astimezone(CHINA) if check.locked_until else None
        key = "pin.locked_now" if check.just_locked else "pin.locked"
        ctx.finish()
        text = ctx.t(key, until=f"{until:%H:%M}" if until else "-")
        ctx.reply(text, (_forgot_row(ctx), back_to_menu(ctx.t)))
        return
    ctx.finish()
    ctx.reply(ctx.t("pin.not_set"), (back_to_menu(ctx.t),))


async def read_pin(ctx: Context) -> bool:
    """Read (and delete) the PIN typed at a step that asked for it: True when it is right. A
    wrong one is told and asked again (the step stays); locked, the step ends."""
    typed = _typed(ctx)
    if typed is None:
        ctx.reply(ctx.t("pin.ask"), (back_to_menu(ctx.t),))
        return False
    check = await ctx.services.pins.check(ctx.customer.id, typed)
    if check.ok:
        return True
    explain(ctx, check)
    return False


def register(router: ConversationRouter) -> None:
    @router.command("pin")
    async def pin_command(ctx: Context) -> None:
        if await ctx.services.pins.has_pin(ctx.customer.id):
            ctx.go(CURRENT)
            ctx.reply(ctx.t("pin.ask_current"), (_forgot_row(ctx), back_to_menu(ctx.t)))
            return
        ctx.go(NEW)
        ctx.reply(ctx.t("pin.ask_new"), (back_to_menu(ctx.t),))

    @router.step(CURRENT)
    async def current(ctx: Context) -> None:
        if not await read_pin(ctx):
            return
        ctx.go(NEW)
        ctx.reply(ctx.t("pin.ask_new"), (back_to_menu(ctx.t),))

    @router.step(NEW)
    async def new(ctx: Context) -> None:
        typed = _typed(ctx)
        if typed is None or not valid_pin(typed):
            ctx.reply(ctx.t("pin.invalid"), (back_to_menu(ctx.t),))
            return
        reset = bool(ctx.state.data.get("reset", False))
        ctx.go(REPEAT, first=await ctx.services.pins.seal(typed), reset=reset)
        ctx.reply(ctx.t("pin.ask_repeat"), (back_to_menu(ctx.t),))

    @router.step(REPEAT)
    async def repeat(ctx: Context) -> None:
        typed = _typed(ctx)
        first = str(ctx.state.data.get("first", ""))
        reset = bool(ctx.state.data.get("reset", False))
        if typed is None or not await ctx.services.pins.same(typed, first):
            ctx.go(NEW, reset=reset)
            ctx.reply(ctx.t("pin.mismatch"), (back_to_menu(ctx.t),))
            return
        takes_effect = await ctx.services.pins.set_pin(ctx.customer.id, typed, reset=reset)
        ctx.finish()
        if takes_effect is not None:
            at = f"{takes_effect.astimezone(CHINA):%Y-%m-%d %H:%M}"
            ctx.reply(ctx.t("pin.reset_waiting", at=at), (back_to_menu(ctx.t),))
            return
        ctx.reply(ctx.t("pin.reset_done" if reset else "pin.set"), (back_to_menu(ctx.t),))

    @router.button(ForgotPin)
    async def forgot(ctx: Context, data: ForgotPin) -> None:
        if not await ctx.services.pins.has_pin(ctx.customer.id):
            ctx.finish()
            ctx.reply(ctx.t("pin.not_set"), (back_to_menu(ctx.t),))
            return
        ctx.go(RESET)
        keyboard = ContactKeyboard(ctx.t("pin.reset_share"), ctx.t("pin.reset_typed_hint"))
        ctx.reply(ctx.t("pin.reset_ask"), keyboard=keyboard)

    @router.step(RESET)
    async def reset_contact(ctx: Context) -> None:
        """Only the customer's own Telegram contact, of a number verified on the account."""
        event = ctx.event
        if event.kind is not EventKind.CONTACT:
            ctx.reply(ctx.t("pin.reset_need_contact"), (back_to_menu(ctx.t),))
            return
        digits = ""
        try:
            digits = parse_phone_number(event.contact_phone or "").digits
        except PhoneNumberError:
            digits = ""
        own = event.contact_user_id == event.user.telegram_id
        if not own or not digits or not await ctx.services.pins.may_reset(ctx.customer.id, digits):
            ctx.finish()
            ctx.reply(ctx.t("pin.reset_refused"), keyboard=RemoveKeyboard())
            ctx.reply(ctx.t("pin.reset_refused_next"), (back_to_menu(ctx.t),))
            return
        ctx.go(NEW, reset=True)
        ctx.reply(ctx.t("pin.reset_verified"), keyboard=RemoveKeyboard())
        ctx.reply(ctx.t("pin.ask_new"), (back_to_menu(ctx.t),))
