"""What counts as a script mix: Chinese in an English text, English words in a Chinese text."""

from __future__ import annotations

import re

from domain.languages import Language

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
LATIN_WORD = re.compile(r"[A-Za-z]+")
# Names that stay as they are in Chinese: brands, units, file formats, and what a person types
# or sees in Telegram itself (commands, links, setting names, order and ticket numbers).
BRANDS_AND_UNITS = frozenset(
    {"Telegram", "GB", "MB", "KB", "CSAT", "CSV", "K", "JPEG", "PNG", "WebP"}
)
NOT_WORDS = re.compile(
    r"/[a-z_]+(?:@\w+)?"  # a command
    r"|https?://\S+|t\.me/\S+"  # a link
    r"|\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b"  # a setting's name (STAFF_CHAT_ID)
    r"|\b[a-z]+(?:_[a-z0-9]+)+\b"  # a campaign file's field (holdout_percent)
    r"|\b[a-z]+(?:/[\w.]+)+\b"  # a file's path (var/bot.log)
    r"|\b[A-Z]{1,3}\d[\w-]*"  # an order, ticket or coupon number (R2026…, T12, WELCOME5)
    r"|\b[A-Z0-9]{4,}\b"  # a coupon code
)


def mix_in(language: Language, text: str) -> list[str]:
    """The pieces of `text` written in the other language's script; [] when there are none."""
    if language is Language.EN:
        return HAN.findall(text)
    words = LATIN_WORD.findall(NOT_WORDS.sub(" ", text))
    return [word for word in words if word not in BRANDS_AND_UNITS]
