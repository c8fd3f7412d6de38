"""A started bot sets its lasting objects aside from the garbage collector, so that a full
collection in the middle of a sweep or a turn walks only what was made since."""

from __future__ import annotations

import gc

from bot.assembly import settle_long_lived_objects


def test_what_exists_once_the_bot_is_built_is_left_out_of_full_collections() -> None:
    try:
        settle_long_lived_objects()
        frozen = gc.get_freeze_count()
        assert frozen > 1000
        assert len(gc.get_objects()) < frozen
    finally:
        gc.unfreeze()
