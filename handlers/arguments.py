"""A command's argument as an answer names it back: on one line, within a readable length."""

from __future__ import annotations

from handlers.paging import shortened

SHOWN = 24


def shown(value: str) -> str:
    """The argument as the customer or staff member typed it, within `SHOWN` characters."""
    return shortened(" ".join(value.split()), SHOWN)
