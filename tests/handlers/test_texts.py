"""Every text exists in Chinese and English, with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

from domain.languages import Language
from handlers.i18n import catalogue

ROOT = Path(__file__).resolve().parents[2]
# Keys used in code: ctx.t("key"...), t("key"...), and f-string families like f"carrier.{x}".
KEY_USE = re.compile(r"""\bt\(\s*f?["']([a-z_]+(?:\.[a-z_{}.]+)+)["']""")


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_catalogues_hold_the_same_keys_with_the_same_placeholders() -> None:
    chinese, english = catalogue(Language.ZH_CN), catalogue(Language.EN)
    assert set(chinese) == set(english)
    for key in chinese:
        assert chinese[key].strip() and english[key].strip(), key
        assert _placeholders(chinese[key]) == _placeholders(english[key]), key


def test_every_key_used_in_code_exists_in_every_language() -> None:
    used: set[str] = set()
    for folder in ("handlers", "bot", "scheduler"):
        for path in (ROOT / folder).rglob("*.py"):
            used.update(KEY_USE.findall(path.read_text(encoding="utf-8")))
    assert used, "no text keys found; the pattern is broken"
    for language in Language:
        keys = set(catalogue(language))
        for key in used:
            if "{" in key:
                family = key.split("{", 1)[0]
                assert any(k.startswith(family) for k in keys), (language, key)
            else:
                assert key in keys, (language, key)


def test_chinese_texts_are_chinese_and_english_texts_are_not() -> None:
    cjk = re.compile(r"[\u4e00-\u9fff]")
    shared = {"menu.language"}  # the language button names both languages on purpose
    for key, text in catalogue(Language.EN).items():
        if key not in shared:
            assert not cjk.search(text), key
    assert (
        sum(bool(cjk.search(text)) for text in catalogue(Language.ZH_CN).values())
        >= len(catalogue(Language.ZH_CN)) - 1
    )
