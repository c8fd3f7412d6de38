"""/language: Chinese (default) or English, kept per customer."""

from __future__ import annotations

from dataclasses import dataclass

from domain.languages import Language
from handlers.buttons import ButtonData
from handlers.contract import Button
from handlers.menu import back_to_menu, show_menu
from handlers.router import Context, ConversationRouter

# Each language is offered in its own words, whatever the current language is.
LANGUAGE_NAMES = {Language.ZH_CN: "中文", Language.EN: "English"}


@dataclass(frozen=True)
class ShowLanguages(ButtonData, prefix="langs"):
    pass


@dataclass(frozen=True)
class ChooseLanguage(ButtonData, prefix="lang"):
    language: Language


def _choices(ctx: Context) -> tuple[tuple[Button, ...], ...]:
    row = tuple(
        Button(("✓ " if language is ctx.language else "") + name, ChooseLanguage(language).pack())
        for language, name in LANGUAGE_NAMES.items()
    )
    return (row, back_to_menu(ctx.t))


def register(router: ConversationRouter) -> None:
    router.menu_entry(80, "menu.language", ShowLanguages())

    @router.command("language")
    async def language_command(ctx: Context) -> None:
        ctx.reply(ctx.t("language.choose"), _choices(ctx))

    @router.button(ShowLanguages)
    async def language_button(ctx: Context, _data: ShowLanguages) -> None:
        ctx.reply(ctx.t("language.choose"), _choices(ctx), edit=True)

    @router.button(ChooseLanguage)
    async def choose(ctx: Context, data: ChooseLanguage) -> None:
        customer = await ctx.services.customers.set_language(ctx.customer.id, data.language)
        ctx.switch_customer(customer)
        ctx.reply(ctx.t("language.set"), edit=True)
        show_menu(ctx, router)
