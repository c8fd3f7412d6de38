"""The commands a person has, described in their language: the /help text and the command menus
a front end sets with setMyCommands at start (one per language, and one for each staff chat)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.languages import DEFAULT_LANGUAGE, Language
from handlers.i18n import Texts, texts
from handlers.router import ConversationRouter

# Telegram's limits for setMyCommands.
MAX_DESCRIPTION = 256
MAX_COMMANDS = 100


def described(router: ConversationRouter, t: Texts, *, staff: bool) -> list[tuple[str, str]]:
    """(name, description) of the customer's commands, or of the staff's own."""
    return [
        (name, t(f"command.{name}")[:MAX_DESCRIPTION]) for name in router.command_names(staff=staff)
    ]


def help_text(router: ConversationRouter, t: Texts, *, staff: bool) -> str:
    """/help: every command the person has; staff see theirs under a heading of their own."""
    lines = [t("help.header")]
    lines += [
        t("help.line", command=name, description=text)
        for name, text in described(router, t, staff=False)
    ]
    if staff:
        lines += ["", t("help.staff_header")]
        lines += [
            t("help.line", command=name, description=text)
            for name, text in described(router, t, staff=True)
        ]
    return "\n".join(lines)


@dataclass(frozen=True)
class CommandMenu:
    """One setMyCommands call: for every private chat (chat_id None) or one staff member's
    chat, for one language (language_code None: the default, for any language not listed)."""

    commands: tuple[tuple[str, str], ...]
    chat_id: int | None = None
    language_code: str | None = None


def _codes(language: Language) -> list[str | None]:
    code = language.value.split("_")[0]
    return [None, code] if language is DEFAULT_LANGUAGE else [code]


def command_menus(router: ConversationRouter, staff_ids: list[int]) -> list[CommandMenu]:
    """Every command menu to set at start: the customer's in each language, and for each staff
    member the customer's commands with the staff's after them."""
    menus: list[CommandMenu] = []
    for language in Language:
        t = texts(language)
        customer = tuple(described(router, t, staff=False))
        everything = (customer + tuple(described(router, t, staff=True)))[:MAX_COMMANDS]
        for code in _codes(language):
            menus.append(CommandMenu(customer[:MAX_COMMANDS], language_code=code))
            menus += [CommandMenu(everything, chat_id=i, language_code=code) for i in staff_ids]
    return menus
