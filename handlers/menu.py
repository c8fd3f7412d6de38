"""The main menu and the way back to it."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.buttons import ButtonData
from handlers.contract import Button
from handlers.i18n import Texts
from handlers.router import Context, ConversationRouter


@dataclass(frozen=True)
class ShowMenu(ButtonData, prefix="menu"):
    pass


def back_to_menu(t: Texts) -> tuple[Button, ...]:
    return (Button(t("menu.back"), data=ShowMenu().pack()),)


def show_menu(ctx: Context, router: ConversationRouter, *, edit: bool = False) -> None:
    ctx.reply(ctx.t("menu.title"), router.menu_buttons(ctx.t), edit=edit)
