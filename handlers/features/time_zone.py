"""/timezone: the customer's own time zone, for campaign pushes scheduled for a local time
(Asia/Shanghai until chosen). A short list of zones as buttons, or any zone typed after the
command; a name that is no time zone is refused and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from domain.broadcasts import TIME_ZONE_CHOICES
from handlers.buttons import ButtonData
from handlers.contract import Button
from handlers.menu import back_to_menu
from handlers.paging import shortened
from handlers.router import Context, ConversationRouter

# The longest typed name repeated back in the refusal.
ECHO_CHARS = 40


@dataclass(frozen=True)
class ChooseTimeZone(ButtonData, prefix="tz"):
    """One of TIME_ZONE_CHOICES, by its place in the list."""

    choice: int


def _zone_name(ctx: Context, zone: str) -> str:
    """A listed zone by its city in the customer's language; any other by its IANA name."""
    if zone not in TIME_ZONE_CHOICES:
        return zone
    slug = zone.rsplit("/", 1)[-1].lower()
    return ctx.t(f"tz.city.{slug}")


def _now_in(ctx: Context, zone: str) -> str:
    return ctx.services.broadcasts.now().astimezone(ZoneInfo(zone)).strftime("%H:%M")


def _choices(ctx: Context, current: str) -> tuple[tuple[Button, ...], ...]:
    buttons = [
        Button(
            ("✓ " if zone == current else "") + _zone_name(ctx, zone), ChooseTimeZone(index).pack()
        )
        for index, zone in enumerate(TIME_ZONE_CHOICES)
    ]
    rows = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
    return (*rows, back_to_menu(ctx.t))


async def _show(ctx: Context, *, edit: bool = False, refused: str | None = None) -> None:
    current = await ctx.services.broadcasts.time_zone(ctx.customer.id)
    text = ctx.t("tz.current", zone=_zone_name(ctx, current), now=_now_in(ctx, current))
    if refused is not None:
        text = ctx.t("tz.unknown", text=shortened(refused, ECHO_CHARS)) + "\n\n" + text
    ctx.reply(text, _choices(ctx, current), edit=edit)


async def _set(ctx: Context, name: str, *, edit: bool) -> None:
    zone = await ctx.services.broadcasts.set_time_zone(ctx.customer.id, name)
    if zone is None:
        await _show(ctx, refused=name)
        return
    text = ctx.t("tz.set", zone=_zone_name(ctx, zone), now=_now_in(ctx, zone))
    ctx.reply(text, (back_to_menu(ctx.t),), edit=edit)


def register(router: ConversationRouter) -> None:
    @router.command("timezone")
    async def time_zone_command(ctx: Context) -> None:
        typed = ctx.event.args.strip()
        if typed:
            await _set(ctx, typed, edit=False)
        else:
            await _show(ctx)

    @router.button(ChooseTimeZone)
    async def choose(ctx: Context, data: ChooseTimeZone) -> None:
        if not 0 <= data.choice < len(TIME_ZONE_CHOICES):
            ctx.notice(ctx.t("button.expired"))
            return
        await _set(ctx, TIME_ZONE_CHOICES[data.choice], edit=True)
