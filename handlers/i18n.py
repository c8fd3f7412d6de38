"""Texts from gettext catalogues (one .po file per language, read with Babel).

Message ids are stable keys ("phones.bound"); the catalogues hold the words in each language,
with `{name}` placeholders filled by `str.format`. A text that counts something ("1 open ticket",
"3 open tickets") is a plural entry (`msgid_plural`, `msgstr[0]`, `msgstr[1]`, …) and is read with
`t.plural(key, count, ...)`, which picks the form by the catalogue's own `Plural-Forms` rule.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from domain.languages import DEFAULT_LANGUAGE, Language

LOCALES = Path(__file__).parent / "locales"


def catalogue_path(language: Language) -> Path:
    return LOCALES / language.value / "LC_MESSAGES" / "messages.po"


@dataclass(frozen=True)
class Catalogue:
    """One language's texts: plain entries, plural entries (every form) and its plural rule."""

    plain: Mapping[str, str]
    plurals: Mapping[str, tuple[str, ...]]
    plural_index: Callable[[int], int]


@cache
def read_catalogue(language: Language) -> Catalogue:
    with catalogue_path(language).open("rb") as handle:
        po = read_po(handle, locale=language.value)
    plain: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    for message in po:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            forms = tuple(str(form) for form in message.string or () if form)
            if forms:
                plurals[str(message.id[0])] = forms
        elif isinstance(message.string, str) and message.string:
            plain[str(message.id)] = message.string
    return Catalogue(plain, plurals, gettext.c2py(po.plural_expr))


@cache
def catalogue(language: Language) -> Mapping[str, str]:
    """Every key with its text; a plural entry with its most general (last) form."""
    read = read_catalogue(language)
    return {**read.plain, **{key: forms[-1] for key, forms in read.plurals.items()}}


class Texts:
    """The texts of one language. A key missing there falls back to Chinese, then the key."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self._own = catalogue(language)
        self._fallback = catalogue(DEFAULT_LANGUAGE)
        self._plurals = read_catalogue(language)
        self._fallback_plurals = read_catalogue(DEFAULT_LANGUAGE)

    def __call__(self, key: str, **values: object) -> str:
        template = self._own.get(key) or self._fallback.get(key) or key
        return template.format(**values) if values else template

    def plural(self, key: str, count: int, **values: object) -> str:
        """The form of `key` for `count` ("1 open ticket", "2 open tickets"); `{count}` in the
        text is the count unless `values` give it another shape (a separated number)."""
        read = self._plurals if key in self._plurals.plurals else self._fallback_plurals
        forms = read.plurals.get(key)
        if forms is None:
            return self(key, count=count, **values)
        template = forms[min(read.plural_index(count), len(forms) - 1)]
        return template.format(**{"count": count, **values})


@cache
def texts(language: Language) -> Texts:
    return Texts(language)
