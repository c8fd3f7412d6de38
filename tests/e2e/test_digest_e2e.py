"""The staff chat's daily digest end to end over real HTTP with each front end against the
fake Bot API server: the scheduler's sweep sends yesterday's figures through the delivery
port, as a picture (sendPhoto, uploaded) with its caption, into the staff chat; once."""

from __future__ import annotations

import io
import json
from datetime import time
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from scheduler.digest import DigestSchedule, send_daily_digest
from tests.e2e.conftest import Runner
from tests.fakes.bot_api import FakeBotApi, FakeGroup

pytestmark = pytest.mark.timeout(60)

STAFF_CHAT = FakeGroup(id=-1009009, title="运营")
# Due at any time of day: the digest of yesterday (Beijing time).
MIDNIGHT = DigestSchedule(time(0, 0), ZoneInfo("Asia/Shanghai"), "https://dash.example.com")


async def test_the_daily_digest_reaches_the_staff_chat_as_a_picture(
    api: FakeBotApi, sqlite_url: str, runner: Runner
) -> None:
    api.add_group(STAFF_CHAT, bot_is_admin=True)
    async with runner(api, sqlite_url, staff_chat_id=STAFF_CHAT.id) as app:
        mark = api.mark()
        assert await send_daily_digest(app.services, app.delivery, STAFF_CHAT.id, MIDNIGHT)
        [digest] = await api.wait_for_message(STAFF_CHAT.id, after=mark)
        assert digest["caption"].startswith("📊 每日数据 ")
        assert "充值：0 笔，¥0.00" in digest["caption"]
        assert "https://dash.example.com/?period=custom" in digest["caption"]
        upload = api.uploaded_photos[(STAFF_CHAT.id, digest["message_id"])]
        image = Image.open(io.BytesIO(upload.data))
        assert image.format == "PNG"
        assert [value for _, value in json.loads(image.info["bars"])] == [0] * 7
        # Swept again (another process, a restart): nothing more.
        assert not await send_daily_digest(app.services, app.delivery, STAFF_CHAT.id, MIDNIGHT)
    assert [m for m in api.messages_to(STAFF_CHAT.id) if "photo" in m] == [digest]
