"""The main menu and the way back to it."""

from __future__ import annotations

from dataclasses import dataclass

from domain.languages import Language
from handlers.buttons import ButtonData
from handlers.contract import Button
from handlers.i18n import Texts
from handlers.router import Context, ConversationRouter


@dataclass(frozen=True)
class ShowMenu(ButtonData, prefix="menu"):
    pass


@dataclass(frozen=True)
class CancelInput(ButtonData, prefix="x"):
    """Stop what the bot is waiting for (a complaint, a comment, a code), as /cancel does."""


SHOW_MENU = ShowMenu().pack()
# The "back to the menu" row in each language; the same button every time.
_BACK_ROWS: dict[Language, tuple[Button, ...]] = {}


def back_to_menu(t: Texts) -> tuple[Button, ...]:
    row = _BACK_ROWS.get(t.language)
    if row is None:
        row = _BACK_ROWS[t.language] = (Button(t("menu.back"), data=SHOW_MENU),)
    return row


def cancel_row(t: Texts) -> tuple[Button, ...]:
    """The row under every prompt that waits for typed text."""
    return (Button(t("input.cancel"), data=CancelInput().pack()),)


def show_menu(ctx: Context, router: ConversationRouter, *, edit: bool = False) -> None:
    ctx.reply(ctx.t("menu.title"), router.menu_buttons(ctx.t), edit=edit)
