"""Paging: however many and however long the entries, every page fits one message and one
keyboard, and every entry is on exactly one page, in order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.languages import Language
from handlers.contract import MAX_KEYBOARD_BUTTONS, MAX_MESSAGE_CHARS, Button, text_length
from handlers.i18n import texts
from handlers.paging import MAX_BLOCKS_PER_PAGE, PAGE_LINE_ROOM, Block, capped, paginate

T = texts(Language.EN)
LINE = st.text(alphabet=st.sampled_from("a长🎁 "), max_size=900)


@st.composite
def blocks(draw: st.DrawFn) -> Block:
    lines = capped(T, draw(st.lists(LINE, max_size=40)))
    buttons = draw(st.integers(0, 14))
    return Block(tuple(lines), tuple((Button("b", data="x"),) for _ in range(buttons)))


@settings(max_examples=60, deadline=None)
@given(st.lists(blocks(), max_size=60), st.integers(0, 200))
def test_every_page_fits_and_every_entry_is_on_one_page(entries: list[Block], header: int) -> None:
    room = MAX_MESSAGE_CHARS - header
    pages = paginate(entries, text_room=room, button_room=MAX_KEYBOARD_BUTTONS - 2)
    assert [block for page in pages for block in page] == entries
    for page in pages:
        assert 1 <= len(page) <= MAX_BLOCKS_PER_PAGE
        text = sum(text_length(line) + 1 for block in page for line in block.lines)
        assert text <= room - PAGE_LINE_ROOM
        assert sum(block.buttons for block in page) <= MAX_KEYBOARD_BUTTONS - 4


def test_capped_lines_say_how_many_more_there_are() -> None:
    assert capped(T, ["a"] * 12) == ["a"] * 12
    assert capped(T, ["a"] * 13) == ["a"] * 11 + ["…and 2 more"]
    long = capped(T, ["x" * 1000] * 10)
    assert long == ["x" * 399 + "…"] * 4 + ["…and 6 more"]
    assert sum(len(line) + 1 for line in long) <= 2000
