"""Texts from gettext catalogues (one .po file per language, read with Babel).

Message ids are stable keys ("phones.bound"); the catalogues hold the words in each language,
with `{name}` placeholders filled by `str.format`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from domain.languages import DEFAULT_LANGUAGE, Language

LOCALES = Path(__file__).parent / "locales"


def catalogue_path(language: Language) -> Path:
    return LOCALES / language.value / "LC_MESSAGES" / "messages.po"


@cache
def catalogue(language: Language) -> Mapping[str, str]:
    with catalogue_path(language).open("rb") as handle:
        po = read_po(handle, locale=language.value)
    return {
        str(message.id): str(message.string)
        for message in po
        if message.id and isinstance(message.string, str) and message.string
    }


class Texts:
    """The texts of one language. A key missing there falls back to Chinese, then the key."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self._own = catalogue(language)
        self._fallback = catalogue(DEFAULT_LANGUAGE)

    def __call__(self, key: str, **values: object) -> str:
        template = self._own.get(key) or self._fallback.get(key) or key
        return template.format(**values) if values else template


@cache
def texts(language: Language) -> Texts:
    return Texts(language)
