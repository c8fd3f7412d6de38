"""A command's argument as an answer names it back: trimmed to a readable length, one line."""

from __future__ import annotations

SHOWN = 24


def shown(value: str) -> str:
    """The argument as the customer or staff member typed it, within `SHOWN` characters."""
    flat = " ".join(value.split())
    return flat if len(flat) <= SHOWN else flat[: SHOWN - 1] + "…"
