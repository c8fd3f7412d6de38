"""What the database can hold: ids and counters are its 32-bit signed integers.

Anything that comes from outside (button data, invoice payloads, command arguments, campaign
files) is checked against these before it reaches a statement, so an out-of-range number is a
clear refusal rather than a database error.
"""

from __future__ import annotations

# The largest value of an INTEGER column (ids, counters, amounts in fen) on PostgreSQL.
MAX_INT = 2_147_483_647
# Ids start at 1; 0 may stand for "none" in button data.
MAX_ID = MAX_INT


def parse_id(text: str) -> int | None:
    """An id written as plain decimal digits (no sign, no leading zeros) within the database's
    range, or None."""
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_ID)):
        return None
    if len(text) > 1 and text[0] == "0":
        return None
    value = int(text)
    return value if value <= MAX_ID else None
