from __future__ import annotations

import pytest

from domain.languages import Language, language_from_telegram


@pytest.mark.parametrize(
    ("code", "language"),
    [
        (None, Language.ZH_CN),
        ("", Language.ZH_CN),
        ("zh-hans", Language.ZH_CN),
        ("zh-hant", Language.ZH_CN),
        ("ru", Language.ZH_CN),
        ("en", Language.EN),
        ("en-US", Language.EN),
        ("EN_gb", Language.EN),
    ],
)
def test_telegram_language_code_picks_english_only_for_english(
    code: str | None, language: Language
) -> None:
    assert language_from_telegram(code) is language
