"""Live pages: /events streams a page's figures (server-sent events) at once and again when
they change, and only while the session lasts."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from aiohttp import ClientResponse

from tests.dashboard.conftest import STAFF_ID, Site
from tests.dashboard.data import add_customer, add_order


async def _next_event(response: ClientResponse) -> tuple[str, Any]:
    """The next event of the stream (comments skipped): its name and its data."""
    name, data = "", ""
    while True:
        raw = await asyncio.wait_for(response.content.readline(), 10)
        if not raw:
            raise EOFError("the stream ended")
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and name:
            return name, json.loads(data)


def _recharges(figures: dict[str, Any]) -> str:
    [row] = [row for row in figures["tables"]["sales"] if row[0] in ("充值笔数", "Recharges")]
    return str(row[1])


async def test_a_new_recharge_reaches_an_open_page(site: Site) -> None:
    now = site.clock()
    customer = await add_customer(site.app.engine, 5101, now - timedelta(days=2))
    await add_order(site.app.engine, customer, 1000, now - timedelta(hours=3))
    await site.sign_in(STAFF_ID)
    response = await site.client.get("/events", params={"page": "overview", "period": "day"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    name, first = await _next_event(response)
    assert name == "figures" and _recharges(first) == "1"
    assert first["charts"]["recharges_by_hour"]["series"][0]["values"][17] == 1  # 17:01 Beijing
    await add_order(site.app.engine, customer, 2500, now - timedelta(hours=1))
    name, second = await _next_event(response)
    assert name == "figures" and _recharges(second) == "2"
    assert second["charts"]["sales_by_day"]["series"][0]["values"] == [35.0]
    response.close()


async def test_the_stream_needs_a_session_and_ends_with_it(site: Site) -> None:
    refused = await site.client.get("/events", params={"page": "overview"})
    assert refused.status == 401
    await site.sign_in(STAFF_ID)
    assert (await site.client.get("/events", params={"page": "nothing"})).status == 404
    response = await site.client.get("/events", params={"page": "support"})
    assert (await _next_event(response))[0] == "figures"
    page = await (await site.client.get("/p/support")).text()
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    signed_out = await site.client.post("/signout", data={"csrf": csrf}, headers=site.origin)
    assert signed_out.status == 200
    assert (await _next_event(response))[0] == "signed-out"
    assert await asyncio.wait_for(response.content.read(), 10) == b""
