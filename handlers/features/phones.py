"""Phone numbers: bind by sharing the contact or typing, list them masked, remove one."""

from __future__ import annotations

from dataclasses import dataclass

from domain.customers import MAX_BOUND_PHONES, BoundPhone
from domain.phone import PhoneNumberError, parse_phone_number
from domain.services.customers import PhoneAlreadyBound, TooManyPhones
from handlers.buttons import ButtonData
from handlers.contract import Button, ContactKeyboard, EventKind, RemoveKeyboard
from handlers.menu import back_to_menu, show_menu
from handlers.router import Context, ConversationRouter

ADDING = "phones.adding"


@dataclass(frozen=True)
class ShowPhones(ButtonData, prefix="ph"):
    pass


@dataclass(frozen=True)
class AddPhone(ButtonData, prefix="ph+"):
    pass


@dataclass(frozen=True)
class RemovePhone(ButtonData, prefix="ph-"):
    binding_id: int


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


def _ask_for_number(ctx: Context) -> None:
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
            _ask_for_number(ctx)

    @router.button(AddPhone)
    async def add_button(ctx: Context, _data: AddPhone) -> None:
        _ask_for_number(ctx)

    @router.step(ADDING)
    async def typed_number(ctx: Context) -> None:
        await _bind(ctx, ctx.event.typed_or_shared)

    @router.idle_text(_is_phone_number)
    async def number_at_menu(ctx: Context) -> None:
        await _bind(ctx, ctx.event.text)

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
