"""Long lists within Telegram's limits: a list of blocks (some lines of text and their buttons)
is cut into pages that each fit one message and one inline keyboard, with "previous" and "next"
buttons that carry the page number in their typed button data.

Every page keeps room for its header, its footer buttons and the navigation, so a screen built
from a page always fits, however many campaigns, offers, rewards or reminders there are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from handlers.buttons import ButtonData
from handlers.contract import MAX_KEYBOARD_BUTTONS, MAX_MESSAGE_CHARS, Button, text_length
from handlers.i18n import Texts

# Room kept on every page for the page line ("第 2/9 页") and what a screen adds around a page.
PAGE_LINE_ROOM = 64
# Room kept in a block for its "…and N more" line.
MORE_LINE_ROOM = 40
# Blocks on one page at most, however short: a screen stays readable on a phone.
MAX_BLOCKS_PER_PAGE = 10
# Lines of one block at most (a campaign's offers, say); more are summed up in one line.
MAX_BLOCK_LINES = 12
# Characters of one line and of one block's lines at most, so that any block fits a page.
MAX_LINE_CHARS = 400
MAX_BLOCK_CHARS = 2000


@dataclass(frozen=True)
class Block:
    """One entry of a list: its lines of text and its rows of buttons."""

    lines: tuple[str, ...]
    rows: tuple[tuple[Button, ...], ...] = ()

    @property
    def size(self) -> int:
        return sum(text_length(line) + 1 for line in self.lines)

    @property
    def buttons(self) -> int:
        return sum(len(row) for row in self.rows)


def shortened(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """`text`, cut to `limit` characters with "…" when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def capped(
    t: Texts, lines: Sequence[str], limit: int = MAX_BLOCK_LINES, room: int = MAX_BLOCK_CHARS
) -> list[str]:
    """At most `limit` lines within `room` characters: the first ones (each cut to a line's
    length), then "…and N more" for the rest."""
    keep = len(lines) if len(lines) <= limit else limit - 1
    shown: list[str] = []
    used = MORE_LINE_ROOM
    for line in lines[:keep]:
        line = shortened(line)
        used += text_length(line) + 1
        if used > room:
            break
        shown.append(line)
    if len(shown) < len(lines):
        shown.append(t("list.more", count=len(lines) - len(shown)))
    return shown


def paginate(
    blocks: Sequence[Block],
    *,
    text_room: int = MAX_MESSAGE_CHARS,
    button_room: int = MAX_KEYBOARD_BUTTONS,
    per_page: int = MAX_BLOCKS_PER_PAGE,
) -> list[list[Block]]:
    """The blocks in pages, in order: each page's lines within `text_room` characters (less the
    page line) and its buttons within `button_room` (less the navigation row)."""
    text_budget = text_room - PAGE_LINE_ROOM
    button_budget = button_room - 2
    pages: list[list[Block]] = []
    page: list[Block] = []
    size = buttons = 0
    for block in blocks:
        fits = (
            size + block.size <= text_budget
            and buttons + block.buttons <= button_budget
            and len(page) < per_page
        )
        if page and not fits:
            pages.append(page)
            page, size, buttons = [], 0, 0
        page.append(block)
        size += block.size
        buttons += block.buttons
    if page:
        pages.append(page)
    return pages


def page_of(pages: Sequence[Sequence[Block]], wanted: int) -> int:
    """`wanted`, or the last page when the list has shrunk since the button was sent."""
    return max(0, min(wanted, len(pages) - 1))


def page_holding(pages: Sequence[Sequence[Block]], index: int) -> int:
    """The page that holds the `index`-th block."""
    seen = 0
    for number, page in enumerate(pages):
        seen += len(page)
        if index < seen:
            return number
    return max(0, len(pages) - 1)


def page_line(t: Texts, page: int, pages: int) -> list[str]:
    """ "Page 2 of 9" under a list of more than one page."""
    return [t("list.page", page=page + 1, pages=pages)] if pages > 1 else []


def navigation(
    t: Texts, page: int, pages: int, to: Callable[[int], ButtonData]
) -> tuple[tuple[Button, ...], ...]:
    """The row of "previous" and "next" buttons for a list of more than one page."""
    row: list[Button] = []
    if page > 0:
        row.append(Button(t("list.previous"), to(page - 1).pack()))
    if page < pages - 1:
        row.append(Button(t("list.next"), to(page + 1).pack()))
    return (tuple(row),) if row else ()


def lines_of(page: Sequence[Block]) -> list[str]:
    return [line for block in page for line in block.lines]


def rows_of(page: Sequence[Block]) -> list[tuple[Button, ...]]:
    return [row for block in page for row in block.rows]
