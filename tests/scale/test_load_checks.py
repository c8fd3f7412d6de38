"""The load test's checks (`tests/bench/load_test.py`) find what they are meant to find: each is
shown a record that breaks it; and the load test itself passes them on a small load (a real
`python -m bot run` process on SQLite behind nginx, ten customers each recharging with a double
tap on the payment and complaining)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from pathlib import Path

import aiohttp
import pytest

import bot.aiogram  # noqa: F401 (imported with the module: the bot's start is not an import)
from bot.cli import load_campaigns, run
from bot.settings import Settings
from tests.bench.load_checks import (
    busiest_second,
    completed_twice,
    out_of_order_turns,
    overlapping_turns,
    quota_broken,
    unbalanced,
)
from tests.bench.load_test import (
    SECRET,
    Stage,
    campaign_file,
    delete_webhook,
    play,
    quota_for,
)
from tests.bench.scale_out import free_port
from tests.bench.turn_log import TurnRecord, record_turns
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi

CHAT, OTHER = 700_001, 700_002


def turn(
    update_id: int, start: float, end: float, chat: int = CHAT, process: int = 1
) -> TurnRecord:
    """A turn that looked for older updates as it started (turns of one process)."""
    return TurnRecord(chat, update_id, True, start, end, process, looked=start)


def test_two_turns_of_one_chat_at_once_are_an_overlap_whichever_processes_ran_them() -> None:
    first, second = turn(1, 10.0, 10.5, process=1), turn(2, 10.4, 10.6, process=2)
    assert overlapping_turns([second, first]) == [(first, second)]
    # One inside a long one, after a short one: still found.
    long, short, inside = turn(1, 0.0, 5.0), turn(2, 5.0, 5.1), turn(3, 4.0, 4.5)
    assert overlapping_turns([long, short, inside]) == [(long, inside)]


def test_turns_one_after_the_other_or_of_different_chats_do_not_overlap() -> None:
    assert overlapping_turns([turn(1, 0.0, 1.0), turn(2, 1.0, 2.0)]) == []
    assert overlapping_turns([turn(1, 0.0, 1.0), turn(2, 0.5, 2.0, chat=OTHER)]) == []


def test_an_update_run_before_an_older_one_already_received_is_out_of_order() -> None:
    newer, older = turn(8, 10.0, 10.2), turn(7, 10.2, 10.4)
    assert out_of_order_turns([newer, older], {7: 9.5, 8: 9.6}) == [(newer, older)]
    # The older one arrived only once the newer had started: nothing to wait for.
    assert out_of_order_turns([newer, older], {7: 10.1, 8: 9.6}) == []
    # Long before (a worker's leftover beyond the window): taken for abandoned.
    assert out_of_order_turns([newer, older], {7: 1.0, 8: 9.6}) == []


def test_a_turn_that_looked_before_the_older_update_arrived_is_in_order_however_late_it_began() -> (
    None
):
    # The newer update's turn looked for older ones at 9.9, before the older arrived at 9.92;
    # its process went on to the turn's start only at 10.0 (a busy machine).
    looked_first = TurnRecord(CHAT, 8, True, 10.0, 10.2, 1, looked=9.9)
    older = turn(7, 10.2, 10.4, process=2)
    assert out_of_order_turns([looked_first, older], {7: 9.92, 8: 9.6}) == []
    # Had it looked at 9.99, the older one was there to be seen.
    looked_late = TurnRecord(CHAT, 8, True, 10.0, 10.2, 1, looked=9.99)
    assert out_of_order_turns([looked_late, older], {7: 9.92, 8: 9.6}) == [(looked_late, older)]


def test_31_unasked_messages_within_one_second_are_above_the_limit() -> None:
    assert busiest_second([100 + k * 0.032 for k in range(31)]) == 31
    assert busiest_second([100 + k * (1 / 30) for k in range(60)]) == 30
    assert busiest_second([]) == 0


def test_a_ledger_that_does_not_sum_to_its_balance_is_found() -> None:
    entries = [(1, 500), (1, -200), (2, 100), (3, 50)]
    assert unbalanced(entries, {1: 300, 2: 100, 3: 50}) == []
    assert unbalanced(entries, {1: 300, 2: 90, 3: 50}) == [2]
    assert unbalanced(entries, {1: 300, 2: 100}) == [3]  # entries without a balance
    assert unbalanced([], {4: 10}) == [4]  # a balance without entries


def test_an_order_completed_twice_is_found() -> None:
    assert completed_twice([11, 12, 13]) == []
    assert completed_twice([11, 12, 11, 13]) == [11]


def test_a_first_n_offer_over_its_quota_miscounted_or_not_filled_is_found() -> None:
    assert quota_broken(quota=25, used=25, granted=25, completed_orders=100) is None
    assert quota_broken(quota=25, used=3, granted=3, completed_orders=3) is None
    assert quota_broken(quota=25, used=25, granted=26, completed_orders=100) is not None
    assert quota_broken(quota=25, used=26, granted=26, completed_orders=100) is not None
    assert quota_broken(quota=25, used=25, granted=24, completed_orders=100) is not None
    assert quota_broken(quota=25, used=20, granted=20, completed_orders=100) is not None


@pytest.mark.timeout(30)
async def test_the_load_test_passes_its_checks_on_a_small_load(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The bot's own `run` (front end, scheduler and sweeps) in this process, on SQLite: ten
    customers, each recharging (a double tap on the payment) and complaining."""
    turn_log = tmp_path / "turns.log"
    async with FakeBotApi() as api, aiohttp.ClientSession() as http:
        port = free_port()
        front = f"http://127.0.0.1:{port}/tg/hook"
        settings = make_settings(
            sqlite_url,
            bot_token=api.token,
            telegram_api_url=api.base_url,
            webhook_url=front,
            webhook_secret=SECRET,
            webhook_listen=f"127.0.0.1:{port}",
            dashboard_listen="",
            demo_mode=True,
            sandbox_topup_delay_seconds=0.1,
        )
        campaigns = campaign_file(quota_for(10)).encode()
        assert (await load_campaigns(settings, campaigns)).offers == 2
        stop_recording = record_turns(str(turn_log))
        bot = BotThread(settings)
        try:
            await until_ready(http, port, bot)
            await delete_webhook(http, api)
            result = await play(
                "sqlite", Stage(api, http, [front], sqlite_url, turn_log, lambda: 0.0), 10, 10
            )
        finally:
            await asyncio.to_thread(bot.stop)
            stop_recording()
            gc.unfreeze()

    assert [c.line() for c in result.checks if not c.passed] == []
    assert result.recharges == 10 and result.updates == 10 * 12


class BotThread:
    """`python -m bot run` as it runs in its process, in a thread of this one with an event
    loop of its own (the run takes every task of its loop for its own when it stops)."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.task = self.loop.create_task(run(settings))
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        except BaseException as failure:
            self.failure = failure
        finally:
            self.loop.close()

    def stop(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(20)
        assert not self.thread.is_alive(), "the bot did not stop"
        if self.failure is not None:
            raise self.failure


async def until_ready(http: aiohttp.ClientSession, port: int, bot: BotThread) -> None:
    for _ in range(500):
        if bot.failure is not None:
            raise bot.failure
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.02)
    raise AssertionError("the bot never became ready")
