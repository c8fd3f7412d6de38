"""Every text, rendered with sample values in each language, stays in that language's script."""

from __future__ import annotations

import re
import string

import pytest

from domain.languages import Language
from handlers.i18n import read_catalogue, texts
from tests.handlers.script_mix import mix_in

# The language button names both languages on purpose.
BILINGUAL = {"menu.language"}


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _rendered(language: Language) -> dict[str, str]:
    """Every key (every plural form too) filled with script-neutral sample values."""
    read = read_catalogue(language)
    t = texts(language)
    out: dict[str, str] = {}
    for key, template in read.plain.items():
        out[key] = t(key, **dict.fromkeys(_placeholders(template), "42"))
    for key, forms in read.plurals.items():
        for count in (0, 1, 2, 5, 21):
            names = set().union(*(_placeholders(form) for form in forms)) - {"count"}
            out[f"{key}[{count}]"] = t.plural(key, count, **dict.fromkeys(names, "42"))
    return out


@pytest.mark.parametrize("language", list(Language))
def test_no_text_mixes_scripts(language: Language) -> None:
    mixed = {
        key: found
        for key, text in _rendered(language).items()
        if key not in BILINGUAL and (found := mix_in(language, text))
    }
    assert not mixed, mixed


def test_counted_english_texts_agree_with_their_count() -> None:
    t = texts(Language.EN)
    assert t.plural("staff.tickets_header", 1) == "1 open ticket:"
    assert t.plural("staff.tickets_header", 3) == "3 open tickets:"
    assert texts(Language.ZH_CN).plural("staff.tickets_header", 1) == "待处理工单 1 个："


# A count before a counted noun in English: "{points} points" must be a plural entry.
COUNTED = re.compile(
    r"\{(\w+)\} (?:open )?(points?|tickets?|days?|stars?|ratings?|friends?|slots?)\b"
)


def test_every_english_count_is_a_plural_entry() -> None:
    plain = read_catalogue(Language.EN).plain
    counted = {key: found for key, text in plain.items() if (found := COUNTED.findall(text))}
    assert not counted, counted


def test_the_checker_sees_a_mix() -> None:
    assert mix_in(Language.EN, "Ticket 42 已关闭") == ["已关闭"]
    assert mix_in(Language.ZH_CN, "您的 ticket 已关闭") == ["ticket"]
    assert mix_in(Language.ZH_CN, "用 /answer 回复，Telegram 支付 1GB") == []
