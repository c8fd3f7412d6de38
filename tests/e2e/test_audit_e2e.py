"""/audit over real HTTP with each front end against the fake Bot API server: a supervisor sees
the trail and receives it as a CSV document (sendDocument); a customer is refused."""

from __future__ import annotations

import csv
import io

import pytest

from domain.services.staff import StaffRole
from tests.e2e.conftest import Runner
from tests.fakes.bot_api import FakeBotApi, FakeUser

pytestmark = pytest.mark.timeout(30)

BOSS = FakeUser(id=4242, first_name="王主管", language_code="zh-hans")
CUSTOMER = FakeUser(id=1101, first_name="Ann", language_code="en")


async def test_supervisor_receives_the_audit_trail_as_a_csv_document(
    api: FakeBotApi, sqlite_url: str, runner: Runner
) -> None:
    api.add_user(BOSS)
    api.add_user(CUSTOMER)
    async with runner(api, sqlite_url, admin_ids=frozenset({BOSS.id})) as app:
        await app.services.staff.grant(5151, StaffRole.AGENT)
        api.send_text(CUSTOMER, "/audit")
        [refused] = await api.wait_for_message(CUSTOMER.id)
        assert refused["text"] == "Sorry, the audit trail is for supervisors only."

        api.send_text(BOSS, "/audit")
        [listing] = await api.wait_for_message(BOSS.id)
        assert listing["text"].startswith("📜 最近 1 条审计记录")
        assert "授予客服角色" in listing["text"] and "staff:5151" in listing["text"]

        api.send_text(BOSS, "/audit csv")
        [sent] = await api.wait_for_message(BOSS.id)
        assert sent["caption"] == "📜 审计记录导出：共 2 条。"
        assert sent["document"]["file_name"].startswith("audit-")
        uploaded = api.documents[(BOSS.id, sent["message_id"])]
        rows = list(csv.reader(io.StringIO(uploaded.data.decode("utf-8-sig"))))
        assert rows[0][:4] == ["id", "at_utc", "at_china", "action"]
        assert [row[3] for row in rows[1:]] == ["role_granted", "audit_exported"]
        assert rows[2][6] == "王主管"
