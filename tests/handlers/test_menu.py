"""The main menu and the way back to it: built once per language, in that language."""

from __future__ import annotations

from typing import cast

from domain.languages import Language
from domain.services.registry import Services
from handlers.contract import Button
from handlers.features.phones import ShowPhones
from handlers.features.start import ShowHelp
from handlers.i18n import texts
from handlers.menu import ShowMenu, back_to_menu
from handlers.router import ConversationRouter

EN, ZH = texts(Language.EN), texts(Language.ZH_CN)


def labels(rows: tuple[tuple[Button, ...], ...]) -> list[str]:
    return [button.text for row in rows for button in row]


def test_the_menu_is_in_each_customers_language() -> None:
    router = ConversationRouter(cast(Services, None))
    router.menu_entry(10, "menu.phones", ShowPhones())
    router.menu_entry(90, "menu.help", ShowHelp())

    assert labels(router.menu_buttons(EN)) == [EN("menu.phones"), EN("menu.help")]
    assert labels(router.menu_buttons(ZH)) == [ZH("menu.phones"), ZH("menu.help")]
    assert labels(router.menu_buttons(EN)) == [EN("menu.phones"), EN("menu.help")]


def test_a_feature_registered_after_the_menu_was_shown_is_in_it() -> None:
    router = ConversationRouter(cast(Services, None))
    router.menu_entry(90, "menu.help", ShowHelp())
    assert labels(router.menu_buttons(EN)) == [EN("menu.help")]

    router.menu_entry(10, "menu.phones", ShowPhones())

    rows = router.menu_buttons(EN)
    assert labels(rows) == [EN("menu.phones"), EN("menu.help")]
    assert [button.data for row in rows for button in row] == [
        ShowPhones().pack(),
        ShowHelp().pack(),
    ]


def test_the_way_back_to_the_menu_in_each_language() -> None:
    for t in (EN, ZH, EN):
        (back,) = back_to_menu(t)
        assert back.text == t("menu.back")
        assert back.data == ShowMenu().pack()
