"""A typed amount of whole yuan: "50", "50元", "¥50", "50块", "五十", "两百元"."""

from __future__ import annotations

import re
import unicodedata

_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_AMOUNT = re.compile(
    r"^[¥￥]?\s*(\d{1,5}|[零一二两三四五六七八九十百千]{1,8})\s*(?:元|块钱?|yuan|rmb|cny)?$"
)


def _chinese_number(text: str) -> int | None:
    """十 → 10, 五十 → 50, 一百零五 → 105, 两百 → 200; None when it is not one."""
    total, digit = 0, None
    for char in text:
        if char in _DIGITS:
            if digit is not None and digit != 0:
                return None  # two digits in a row ("五五")
            digit = _DIGITS[char]
        else:
            unit = _UNITS[char]
            total += (1 if digit is None else digit) * unit
            digit = None
    return total + (digit or 0)


def parse_yuan(text: str) -> int | None:
    """The whole yuan a customer typed, or None when the text is not an amount."""
    compact = unicodedata.normalize("NFKC", text).strip().lower()
    match = _AMOUNT.match(compact)
    if match is None:
        return None
    number = match.group(1)
    value = int(number) if number.isdigit() else _chinese_number(number)
    return value if value else None


def is_amount(text: str) -> bool:
    return parse_yuan(text) is not None
