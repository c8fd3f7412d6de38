"""The database goes away for a while under two webhook workers (real `python -m bot run`
processes on one PostgreSQL database) while a customer's payment is being handled, then comes
back: both workers answer readiness "not ready" meanwhile, refuse updates with a non-2xx answer
(Telegram sends them again), apply no turn by half, and serve again by themselves once it is
back, without a restart.

The shared PostgreSQL server itself is never stopped (other test runs use it): the workers reach
it through a TCP proxy that the test cuts, which closes every connection and refuses new ones,
as a stopped server does. The outage lasts `OUTAGE_SECONDS` (less than the 10 s of a real
restart: with connections refused every failure is immediate, the sweeps ask again at a fixed
interval without backing off, and the scheduler lease outlives both, so 10 s proves nothing
more), or as long as the checks made during it take.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest

from bot.cli import load_campaigns
from domain.languages import Language
from handlers.i18n import texts
from tests.bench.load_checks import overlapping_turns
from tests.bench.load_test import (
    AMOUNT,
    HEADERS,
    RECORDER,
    SANDBOX_PAY,
    SECRET,
    Customers,
    campaign_file,
    database_checks,
    delete_webhook,
    number_of,
    receipts_to,
)
from tests.bench.turn_log import read_turns
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeUser, JSONDict
from tests.scale.conftest import needs_postgres
from tests.scale.processes import ROOT, RealWorker, post, ready, real_worker
from tests.scale.tcp_proxy import TcpProxy
from tests.scale.workers import until

pytestmark = [needs_postgres(), pytest.mark.postgres, pytest.mark.timeout(120)]

OUTAGE_SECONDS = 2.0
NOT_READY = {
    "status": "not ready",
    "checks": {"frontend": True, "database": False, "migrations": False},
}
ZH = texts(Language.ZH_CN)
ANNA = FakeUser(id=6101, first_name="Anna", language_code="zh-hans")
BORIS = FakeUser(id=6102, first_name="Boris", language_code="zh-hans")


async def readiness(http: aiohttp.ClientSession, worker: RealWorker) -> tuple[int, JSONDict]:
    async with http.get(worker.base + "/readyz") as response:
        return response.status, await response.json()


async def at_confirmation(customers: Customers, person: FakeUser, number: int) -> JSONDict:
    """A customer mid-way in a recharge: number bound, ¥50 chosen, the order to pay shown."""
    customers.api.add_user(person)
    await customers.say(person, "/start")
    await customers.say(person, f"/bind {number_of(number)}")
    screen = await customers.say(person, "/recharge")
    return await customers.press(person, screen, AMOUNT)


def texts_to(api: FakeBotApi, *people: FakeUser) -> list[str]:
    return [m.get("text", "") for p in people for m in api.messages_to(p.id)]


def edits_in(api: FakeBotApi, chat_id: int) -> int:
    """How many times the bot asked to edit a message in the chat (answered or held)."""
    return sum(str(c.get("chat_id")) == str(chat_id) for c in api.calls_to("editMessageText"))


async def test_workers_ride_out_a_database_outage_with_a_payment_under_way(
    postgres_url: str, tmp_path: Path
) -> None:
    turn_log = tmp_path / "turns.log"
    env = {
        "PYTHONPATH": f"{RECORDER}:{ROOT}",  # each chat turn's start and end, in `turn_log`
        "LOAD_TEST_TURN_LOG": str(turn_log),
        "WEBHOOK_SECRET": SECRET,  # the customers' posts carry the load test's secret
        "PRIVACY_CONSENT_REQUIRED": "false",
        "SANDBOX_TOPUP_DELAY_SECONDS": "0.3",
        "ORDER_RECHECK_SECONDS": "0.3",
        "ORDER_SWEEP_SECONDS": "0.2",
    }
    # A live campaign: double points for the first recharge only, a red packet for each first.
    await load_campaigns(make_settings(postgres_url), campaign_file(quota=1).encode())
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(FakeBotApi())
        database = await stack.enter_async_context(TcpProxy.before(postgres_url))
        url = database.url_for(postgres_url)
        # The first worker has one place for a turn (half its pool of 3): a place the outage
        # took would leave it serving no chat at all.
        small = {"DATABASE_POOL_SIZE": "3", "DATABASE_MAX_OVERFLOW": "0"}
        first = await stack.enter_async_context(
            real_worker(api, url, tmp_path, "first", **env, **small)
        )
        second = await stack.enter_async_context(real_worker(api, url, tmp_path, "second", **env))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        await asyncio.gather(ready(first), ready(second))  # started side by side
        await delete_webhook(http, api)  # the test posts the updates (to either), as nginx would
        workers = (first, second)
        customers = Customers(api, http, [w.url for w in workers], concurrency=10)
        anna_pays = customers.tap(ANNA, await at_confirmation(customers, ANNA, 1), SANDBOX_PAY)
        boris_pays = customers.tap(BORIS, await at_confirmation(customers, BORIS, 2), SANDBOX_PAY)

        # Anna's payment is under way on the first worker (paid, its answer being sent) ...
        release = api.hold(ANNA.id, methods=("editMessageText",))
        edits = edits_in(api, ANNA.id)
        under_way = asyncio.create_task(post(http, first.url, anna_pays, HEADERS))
        await until(lambda: edits_in(api, ANNA.id) > edits)  # the receipt, held
        cut_at = time.monotonic()
        await database.cut()  # ... when the database goes away
        for worker in workers:
            assert await readiness(http, worker) == (503, NOT_READY)
            async with http.get(worker.base + "/healthz") as alive:
                assert alive.status == 200  # alive: the load balancer keeps it, not restarted
        release.set()
        assert await under_way >= 500  # not recorded as worked: Telegram sends it again
        refusals = {anna_pays["update_id"]: 1}
        # Boris pays meanwhile: both workers refuse; Telegram keeps sending it.
        posted = len(customers.run.posts)
        boris = asyncio.create_task(customers.post(BORIS.id, boris_pays))
        await until(lambda: any(p.resent >= len(workers) for p in customers.run.posts[posted:]))
        for worker in workers:
            assert (await readiness(http, worker))[0] == 503
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - cut_at)))

        await database.restore()  # back: the same processes serve again by themselves
        await asyncio.gather(*(ready(w, within=10) for w in workers))
        assert (await customers.post(ANNA.id, anna_pays)).status == 200  # Telegram's resend
        answered = await boris
        assert answered.status == 200 and answered.resent >= len(workers)
        refusals[boris_pays["update_id"]] = answered.resent
        for worker in workers:  # each serves new updates
            api.send_text(ANNA, "/orders")
            assert await post(http, worker.url, api.updates[-1], HEADERS) == 200
        assert texts_to(api, ANNA).count(ZH("orders.header")) == len(workers)
        await api.wait_for(
            lambda: all(receipts_to(api, p.id) for p in (ANNA, BORIS)), what="both receipts"
        )
        assert all(w.process.returncode is None for w in workers)

    # Each payment was made once and completed once; the offer's one slot went to one of them;
    # every wallet and points ledger sums to its balance.
    checks, completed, _, _ = await database_checks(postgres_url, paid=2)
    assert completed == 2
    failed = [check.line() for check in checks if not check.passed]
    assert not failed, failed
    assert not overlapping_turns(read_turns(turn_log))
    # Nobody was told "something went wrong": each update the outage stopped was sent again.
    assert ZH("error.internal") not in texts_to(api, ANNA, BORIS)
    # The workers' log: one line for each update refused, naming it, its chat and the cause;
    # no traceback at all; the outage's start and end.
    logs = {worker.log.name: worker.log.read_text() for worker in workers}
    for name, told in logs.items():
        assert "Traceback" not in told, f"{name}: {told}"
        assert "ERROR handlers.outage: the database is unreachable" in told, name
        assert "WARNING handlers.outage: the database is back after" in told, name
    lines = [line for told in logs.values() for line in told.splitlines()]
    for update_id, refused in refusals.items():
        chat_id = ANNA.id if update_id == anna_pays["update_id"] else BORIS.id
        said = [line for line in lines if f"update {update_id} of chat {chat_id} refused" in line]
        assert len(said) == refused, (update_id, refused, said)
        assert all(" WARNING " in line and "database unavailable" in line for line in said)
    assert not [line for line in lines if number_of(1) in line or number_of(2) in line]
