"""/metrics counts every 429 Telegram answers, with each front end against the fake Bot API
server: those of the answers a turn gives directly (a reply, a button's answer), not only
those of the messages nobody asked for that leave through the delivery port."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.assembly import App
from domain.languages import Language
from handlers.i18n import texts
from tests.e2e.conftest import Runner
from tests.e2e.test_referrals_e2e import press, say
from tests.fakes.bot_api import FakeBotApi, FakeUser

pytestmark = pytest.mark.timeout(60)
EN = texts(Language.EN)
ANNA = FakeUser(id=4401, first_name="Anna", language_code="en")


def rate_limited(app: App) -> float:
    text = generate_latest(app.metrics.registry).decode()
    return next(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "bot_delivery_rate_limited_total"
    )


async def test_a_turns_own_answers_refused_with_429_are_counted(
    api: FakeBotApi, sqlite_url: str, runner: Runner
) -> None:
    async with runner(api, sqlite_url) as app:
        api.add_user(ANNA)
        await say(api, ANNA, "/start", count=2)
        assert rate_limited(app) == 0

        # The reply to /help is refused once, then goes after the pause: the customer gets it.
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        [answer] = await say(api, ANNA, "/help")
        assert answer["text"]
        assert rate_limited(app) == 1

        # A button's answer refused once, then answered.
        api.fail_next("answerCallbackQuery", 429, "Too Many Requests: retry after 1", retry_after=1)
        [menu] = await say(api, ANNA, "/menu")
        await press(api, ANNA, menu, EN("menu.help"))
        assert rate_limited(app) == 2
