"""The languages customers are served in. Chinese first."""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    ZH_CN = "zh_CN"
    EN = "en"


DEFAULT_LANGUAGE = Language.ZH_CN


def language_from_telegram(code: str | None) -> Language:
    """Telegram's `language_code` (IETF tag such as "en", "en-US", "zh-hans") to a served language.

    English when Telegram says English, Chinese for everything else.
    """
    if code and code.lower().replace("_", "-").split("-")[0] == "en":
        return Language.EN
    return DEFAULT_LANGUAGE


def parse_language(value: str) -> Language | None:
    try:
        return Language(value)
    except ValueError:
        return None
