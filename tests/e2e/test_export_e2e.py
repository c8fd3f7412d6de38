"""/export_my_data over real HTTP with each front end against the fake Bot API server: the
customer receives their data as a JSON document (sendDocument), in their language, with nothing
of another customer's."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Runner
from tests.fakes.bot_api import FakeBotApi, FakeUser

pytestmark = pytest.mark.timeout(30)

ANN = FakeUser(id=1101, first_name="Ann", language_code="en")
WANG = FakeUser(id=2202, first_name="王", language_code="zh-hans")


async def test_the_customer_receives_their_data_as_a_json_document(
    api: FakeBotApi, sqlite_url: str, runner: Runner
) -> None:
    api.add_user(ANN)
    api.add_user(WANG)
    async with runner(api, sqlite_url):
        for user, number in ((ANN, "18612345678"), (WANG, "13100001111")):
            api.send_text(user, f"/bind {number}")
            await api.wait_for_message(user.id)

        api.send_text(ANN, "/export_my_data")
        [sent] = await api.wait_for_message(ANN.id)
        assert sent["caption"].startswith("📦 Here is all your personal data")
        assert sent["document"]["file_name"].endswith(".json")
        uploaded = api.documents[(ANN.id, sent["message_id"])]
        data = json.loads(uploaded.data)
        assert data["profile"]["first_name"] == "Ann"
        assert data["phone_numbers"][0]["number"] == {
            "masked": "186****5678",
            "full": "18612345678",
        }
        assert b"13100001111" not in uploaded.data and b"2202" not in uploaded.data

        api.send_text(ANN, "/export_my_data")
        [again] = await api.wait_for_message(ANN.id)
        assert again["text"].startswith("You exported your data just now.")

        api.send_text(WANG, "/export_my_data")
        [sent] = await api.wait_for_message(WANG.id)
        assert sent["caption"].startswith("📦 这是您在本服务中的全部个人数据")
        data = json.loads(api.documents[(WANG.id, sent["message_id"])].data)
        assert data["phone_numbers"][0]["number"]["full"] == "13100001111"
