"""Phone numbers: bind by sharing the contact or typing, list them masked, remove one."""

from __future__ import annotations

from dataclasses import dataclass

from domain.catalogue import ProductKind
from domain.customers import MAX_BOUND_PHONES, BoundPhone
from domain.phone import PhoneNumberError, parse_phone_number
from domain.services.customers import PhoneAlreadyBound, TooManyPhones
from handlers.buttons import ButtonData
from handlers.contract import Button, ContactKeyboard, EventKind, RemoveKeyboard
from handlers.features.consent import consent_needed
from handlers.features.recharge import RechargeTo, show_products
from handlers.menu import back_to_menu, show_menu
from handlers.router import Context, ConversationRouter

ADDING = "phones.adding"
# A number typed at no step: bind it, or recharge it? data: {"phone": digits}
OFFERED = "phones.offered"


@dataclass(frozen=True)
class ShowPhones(ButtonData, prefix="ph"):
    pass


@dataclass(frozen=True)
class AddPhone(ButtonData, prefix="ph+"):
    pass


@dataclass(frozen=True)
class RemovePhone(ButtonData, prefix="ph-"):
    binding_id: int


@dataclass(frozen=True)
class BindOffered(ButtonData, prefix="ph!"):
    """Bind the number typed at the menu (kept in the conversation state, not in the button)."""


@dataclass(frozen=True)
class RechargeOffered(ButtonData, prefix="ph$"):
    """Recharge the number typed at the menu without binding it."""


def _describe(ctx: Context, phone: BoundPhone) -> str:
    return ctx.t("phones.item", number=phone.masked, carrier=ctx.t(f"carrier.{phone.carrier}"))


async def _show_phones(ctx: Context, *, edit: bool) -> None:
    phones = await ctx.services.customers.phones(ctx.customer.id)
    if phones:
        lines = [ctx.t("phones.list_header"), *(_describe(ctx, phone) for phone in phones)]
    else:
        lines = [ctx.t("phones.none")]
    rows: list[tuple[Button, ...]] = [
        (Button(ctx.t("phones.remove", number=p.masked), RemovePhone(p.id).pack()),) for p in phones
    ]
    if len(phones) < MAX_BOUND_PHONES:
        rows.append((Button(ctx.t("phones.add"), AddPhone().pack()),))
    rows.append(back_to_menu(ctx.t))
    ctx.reply("\n".join(lines), tuple(rows), edit=edit)


async def _ask_for_number(ctx: Context) -> None:
    """Ask for a number to bind; at the limit, say so before the customer types one."""
    phones = await ctx.services.customers.phones(ctx.customer.id)
    if len(phones) >= MAX_BOUND_PHONES:
        ctx.finish()
        rows = ((Button(ctx.t("menu.phones"), ShowPhones().pack()),), back_to_menu(ctx.t))
        ctx.reply(ctx.t("phones.limit_reached", limit=MAX_BOUND_PHONES), rows)
        return
    if len(phones) == MAX_BOUND_PHONES - 1:
        ctx.reply(ctx.t("phones.ask_last", limit=MAX_BOUND_PHONES))
    ctx.go(ADDING)
    keyboard = ContactKeyboard(ctx.t("phones.share_button"), ctx.t("phones.share_typed"))
    ctx.reply(ctx.t("phones.ask"), keyboard=keyboard)


def _is_phone_number(text: str) -> bool:
    try:
        parse_phone_number(text)
    except PhoneNumberError:
        return False
    return True


def register(router: ConversationRouter) -> None:
    router.menu_entry(10, "menu.phones", ShowPhones())

    @router.command("phones")
    async def phones_command(ctx: Context) -> None:
        await _show_phones(ctx, edit=False)

    @router.button(ShowPhones)
    async def phones_button(ctx: Context, _data: ShowPhones) -> None:
        await _show_phones(ctx, edit=True)

    @router.command("bind")
    async def bind_command(ctx: Context) -> None:
        if ctx.event.args:
            await _bind(ctx, ctx.event.args)
        else:
            await _ask_for_number(ctx)

    @router.button(AddPhone)
    async def add_button(ctx: Context, _data: AddPhone) -> None:
        await _ask_for_number(ctx)

    @router.step(ADDING)
    async def typed_number(ctx: Context) -> None:
        await _bind(ctx, ctx.event.typed_or_shared)

    @router.idle_text(_is_phone_number)
    async def number_at_menu(ctx: Context) -> None:
        """A number typed out of the blue: ask what to do with it rather than bind it."""
        number = parse_phone_number(ctx.event.text)
        ctx.go(OFFERED, phone=number.digits)
        carrier = ctx.t(f"carrier.{number.carrier}")
        rows = (
            (
                Button(ctx.t("phones.bind_yes"), BindOffered().pack()),
                Button(ctx.t("phones.recharge_it"), RechargeOffered().pack()),
            ),
            back_to_menu(ctx.t),
        )
        ctx.reply(ctx.t("phones.bind_this", number=number.masked, carrier=carrier), rows)

    def _offered(ctx: Context) -> str | None:
        if ctx.state.step != OFFERED:
            ctx.notice(ctx.t("button.expired"))
            return None
        return str(ctx.state.data.get("phone", ""))

    @router.button(BindOffered)
    async def bind_offered(ctx: Context, _data: BindOffered) -> None:
        digits = _offered(ctx)
        if digits is None:
            await _show_phones(ctx, edit=False)
            return
        await _bind(ctx, digits)

    @router.button(RechargeOffered)
    async def recharge_offered(ctx: Context, _data: RechargeOffered) -> None:
        digits = _offered(ctx)
        if digits is None:
            show_menu(ctx, router)
            return
        try:
            number = parse_phone_number(digits)
        except PhoneNumberError:
            show_menu(ctx, router)
            return
        await show_products(ctx, number, ProductKind.CREDIT, edit=True)

    @router.contact
    async def shared_contact(ctx: Context) -> None:
        await _bind(ctx, ctx.event.contact_phone or "")

    @router.button(RemovePhone)
    async def remove(ctx: Context, data: RemovePhone) -> None:
        phones = await ctx.services.customers.phones(ctx.customer.id)
        own = next((phone for phone in phones if phone.id == data.binding_id), None)
        # Only the customer's own numbers can be removed, whatever id a button carries.
        if own is None or not await ctx.services.customers.unbind_phone(ctx.customer.id, own.id):
            ctx.notice(ctx.t("phones.not_found"))
        else:
            ctx.notice(ctx.t("phones.removed", number=own.masked))
        await _show_phones(ctx, edit=True)

    async def _bind(ctx: Context, text: str) -> None:
        if await consent_needed(ctx):  # no number is kept before the customer agreed
            ctx.finish()
            return
        try:
            number = parse_phone_number(text)
        except PhoneNumberError as error:
            # Nothing is saved; the customer stays at the same step to try again or /cancel.
            ctx.reply(ctx.t(f"phones.invalid.{error.reason}"))
            return
        try:
            event = ctx.event
            own_contact = (
                event.kind is EventKind.CONTACT and event.contact_user_id == event.user.telegram_id
            )
            bound = await ctx.services.customers.bind_phone(
                ctx.customer.id, number, verified=own_contact
            )
        except PhoneAlreadyBound:
            ctx.finish()
            ctx.reply(
                ctx.t("phones.already_bound", number=number.masked), keyboard=RemoveKeyboard()
            )
            phones = await ctx.services.customers.phones(ctx.customer.id)
            own = next((p for p in phones if p.digits == number.digits), None)
            if own is not None:
                label = ctx.t("recharge.to", number=own.masked)
                rows = ((Button(label, RechargeTo(own.id).pack()),), back_to_menu(ctx.t))
                ctx.reply(ctx.t("menu.title"), rows)
            return
        except TooManyPhones:
            ctx.finish()
            ctx.reply(ctx.t("phones.too_many", limit=MAX_BOUND_PHONES), keyboard=RemoveKeyboard())
            return
        ctx.finish()
        ctx.reply(
            ctx.t("phones.bound", number=bound.masked, carrier=ctx.t(f"carrier.{bound.carrier}")),
            keyboard=RemoveKeyboard(),
        )
        show_menu(ctx, router)
