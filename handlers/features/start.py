"""/start, the menu, /help, /cancel, and the answers to anything the bot did not expect."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.buttons import ButtonData
from handlers.commands import help_text
from handlers.contract import RemoveKeyboard
from handlers.features.broadcasts import open_deep_link
from handlers.features.consent import consent_needed
from handlers.features.referrals import welcome_referred
from handlers.menu import CancelInput, ShowMenu, back_to_menu, show_menu
from handlers.router import Context, ConversationRouter


@dataclass(frozen=True)
class ShowHelp(ButtonData, prefix="help"):
    pass


def register(router: ConversationRouter) -> None:
    router.menu_entry(90, "menu.help", ShowHelp())

    @router.command("start")
    async def start(ctx: Context) -> None:
        ctx.finish()
        if not ctx.customer.is_new and await open_deep_link(ctx, router):
            return  # a push's deep link leads to its screen (or says why it cannot)
        name = ctx.customer.first_name or ctx.t("start.friend")
        key = "start.welcome_new" if ctx.customer.is_new else "start.welcome_back"
        ctx.reply(ctx.t(key, name=name))
        if ctx.customer.is_new and ctx.event.args:
            await welcome_referred(ctx)
        if await consent_needed(ctx):
            return  # the menu follows the customer's answer
        show_menu(ctx, router)

    @router.command("menu")
    async def menu(ctx: Context) -> None:
        show_menu(ctx, router)

    @router.button(ShowMenu)
    async def menu_button(ctx: Context, _data: ShowMenu) -> None:
        ctx.finish()
        show_menu(ctx, router, edit=True)

    async def _help(ctx: Context) -> str:
        staff = await ctx.services.staff.is_staff(ctx.event.user.telegram_id)
        return help_text(router, ctx.t, staff=staff)

    @router.command("help")
    async def help_command(ctx: Context) -> None:
        ctx.reply(await _help(ctx), (back_to_menu(ctx.t),))

    @router.button(ShowHelp)
    async def help_button(ctx: Context, _data: ShowHelp) -> None:
        ctx.reply(await _help(ctx), (back_to_menu(ctx.t),), edit=True)

    @router.command("cancel")
    async def cancel(ctx: Context) -> None:
        ctx.finish()
        ctx.reply(ctx.t("cancel.done"), keyboard=RemoveKeyboard())
        show_menu(ctx, router)

    @router.button(CancelInput)
    async def cancel_button(ctx: Context, _data: CancelInput) -> None:
        ctx.finish()
        ctx.reply(ctx.t("cancel.done"), edit=True)
        show_menu(ctx, router)

    router.keyword("help", "帮助")(help_command)
    router.keyword("menu", "菜单", "主菜单", "start", "开始")(menu)

    @router.unknown_command
    async def unknown_command(ctx: Context) -> None:
        ctx.reply(ctx.t("command.unknown"))
        show_menu(ctx, router)

    @router.fallback
    async def unexpected_text(ctx: Context) -> None:
        ctx.reply(ctx.t("text.unknown"))
        show_menu(ctx, router)

    @router.stale_button
    async def stale_button(ctx: Context) -> None:
        ctx.notice(ctx.t("button.expired"))
        show_menu(ctx, router)
