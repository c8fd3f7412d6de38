"""Every text exists in Chinese and English, with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

from domain.languages import Language
from handlers.i18n import catalogue

ROOT = Path(__file__).resolve().parents[2]
# Keys used in code: ctx.t("key"...), t("key"...), and f-string families like f"carrier.{x}".
KEY_USE = re.compile(r"""\bt(?:\.plural)?\(\s*f?["']([a-z_]+(?:\.[a-z_{}.]+)+)["']""")


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
    for key, text in catalogue(Language.ZH_CN).items():
        # Placeholders, commands and names aside, a Chinese text has Chinese in it.
        words = re.sub(r"\{\w+\}|/\w+|Telegram|Language|GB", "", text)
        assert cjk.search(words) or not re.search(r"[A-Za-z]", words), key


def test_every_state_method_carrier_and_refusal_has_its_words() -> None:
    from domain.catalogue import ProductKind
    from domain.orders import OrderStatus, PaymentMethod
    from domain.phone import Carrier
    from domain.services import recharge

    reasons = {
        cls.reason
        for cls in vars(recharge).values()
        if isinstance(cls, type) and issubclass(cls, recharge.RechargeError)
    }
    keys = (
        [f"order.status.{s}" for s in OrderStatus]
        + [f"receipt.headline.{s}" for s in OrderStatus]
        + [f"pay.method.{m}" for m in PaymentMethod]
        + [f"pay.with.{m}" for m in PaymentMethod]
        + [f"carrier.{c}" for c in Carrier]
        + [f"recharge.kind.{k}" for k in ProductKind]
        + [f"recharge.choose_product.{k}" for k in ProductKind]
        + [f"recharge.refused.{r}" for r in reasons]
        + [f"recharge.limit.{r}" for r in ("below_minimum", "above_maximum", "daily")]
        + [f"phones.invalid.{r}" for r in ("not_digits", "length", "segment")]
    )
    for language in Language:
        missing = [key for key in keys if key not in catalogue(language)]
        assert not missing, (language, missing)
