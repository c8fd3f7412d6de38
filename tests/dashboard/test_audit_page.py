"""The audit trail on the dashboard: supervisors see the period's records (newest first) and
may export them, which is itself recorded; other staff neither see the page listed nor open,
stream or export it."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from domain.audit import AuditAction
from domain.services.staff import StaffRole
from tests.dashboard.conftest import STAFF_ID, Site

DAY = {"period": "day"}
AGENT = 5151


def _rows(html: str) -> list[list[str]]:
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", html)]
    return [row for row in rows if row]


async def test_supervisors_see_and_export_the_periods_audit_trail(site: Site) -> None:
    site.clock.advance(-timedelta(days=3))
    await site.app.services.staff.grant(9999, StaffRole.AGENT)  # three days ago: not in the day
    site.clock.advance(timedelta(days=3))
    await site.app.services.staff.grant(AGENT, StaffRole.AGENT)
    await site.sign_in()

    html = await (await site.client.get("/p/audit", params=DAY)).text()
    assert "<h2>审计记录</h2>" in html and 'href="/p/audit?' in html
    rows = _rows(html)
    assert [row[2] for row in rows] == ["登录管理后台", "授予客服角色"]  # newest first
    granted = rows[1]
    assert granted[1] == "2026-12-01 20:00:00"  # the reader's time (Beijing)
    assert str(AGENT) in granted[4] or str(AGENT) in granted[5]
    assert "9999" not in html

    export = await site.client.get("/export/audit/audit.csv", params=DAY)
    assert export.status == 200
    lines = list(csv.reader(io.StringIO((await export.read()).decode("utf-8-sig"))))
    assert len(lines) == 1 + 2
    now = site.clock.now
    latest = await site.app.services.audit.within(now - timedelta(hours=1), now + timedelta(1), 5)
    assert latest[0].entry.action is AuditAction.AUDIT_EXPORTED
    assert latest[0].entry.actor_id == STAFF_ID and "audit" in latest[0].entry.detail


async def test_staff_who_are_not_supervisors_cannot_open_the_audit_trail(site: Site) -> None:
    await site.app.services.staff.grant(AGENT, StaffRole.AGENT)
    await site.sign_in(AGENT)
    overview = await site.client.get("/", params=DAY)
    assert overview.status == 200 and "/p/audit" not in await overview.text()
    for path, params in (
        ("/p/audit", DAY),
        ("/export/audit/audit.csv", DAY),
        ("/events", {"page": "audit"}),
    ):
        refused = await site.client.get(path, params=params)
        assert refused.status == 403, path
        assert "仅对主管开放" in await refused.text()
    now = site.clock.now
    recorded = await site.app.services.audit.within(now - timedelta(days=1), now, 10)
    assert AuditAction.AUDIT_EXPORTED not in {r.entry.action for r in recorded}
