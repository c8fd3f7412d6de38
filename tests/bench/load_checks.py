"""What the load test checks once the customers are done, as functions of plain records (so each
check is tested on hand-made records that break it: `tests/scale/test_load_checks.py`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tests.bench.turn_log import TurnRecord

# Telegram's limit on messages nobody just asked for, over every process of the bot.
UNASKED_PER_SECOND = 30


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"  {'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


def overlapping_turns(turns: Iterable[TurnRecord]) -> list[tuple[TurnRecord, TurnRecord]]:
    """Pairs of turns of one chat that ran at the same time (the later one started before the
    earlier one ended), whichever processes ran them."""
    by_chat: dict[int, list[TurnRecord]] = defaultdict(list)
    for turn in turns:
        by_chat[turn.chat_id].append(turn)
    found = []
    for chat_turns in by_chat.values():
        chat_turns.sort(key=lambda t: t.start)
        latest = chat_turns[0]
        for turn in chat_turns[1:]:
            if turn.start < latest.end:
                found.append((latest, turn))
            if turn.end > latest.end:
                latest = turn
    return found


def out_of_order_turns(
    turns: Iterable[TurnRecord],
    received: Mapping[int, float],
    *,
    margin: float = 0.05,
    window: float = 5.0,
) -> list[tuple[TurnRecord, TurnRecord]]:
    """Pairs (ran first, ran later) of worked turns of one chat where the one that ran later
    has the older update id and had already been received (`received`: update id to the time
    it was recorded, on the same clock) when the other last looked for older updates
    (`TurnRecord.looked`): by more than `margin` seconds (the time between the
    record's time stamp and its commit), and within `window` (an older update waiting longer is
    taken for one a dead worker left)."""
    by_chat: dict[int, list[TurnRecord]] = defaultdict(list)
    for turn in turns:
        if turn.worked:
            by_chat[turn.chat_id].append(turn)
    found = []
    for chat_turns in by_chat.values():
        chat_turns.sort(key=lambda t: t.start)
        for k, first in enumerate(chat_turns):
            for later in chat_turns[k + 1 :]:
                arrived = received.get(later.update_id)
                if (
                    later.update_id < first.update_id
                    and arrived is not None
                    and first.looked - window <= arrived < first.looked - margin
                ):
                    found.append((first, later))
    return found


def busiest_second(times: Iterable[float]) -> int:
    """The most of `times` (seconds) within any one-second window."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def unbalanced(entries: Iterable[tuple[int, int]], balances: Mapping[int, int]) -> list[int]:
    """Customers whose ledger entries (customer, amount) do not sum to their balance (a
    customer without a balance row has a balance of 0)."""
    sums: Counter[int] = Counter()
    for customer, amount in entries:
        sums[customer] += amount
    return sorted(c for c in set(sums) | set(balances) if sums[c] != balances.get(c, 0))


def completed_twice(completions: Iterable[int]) -> list[int]:
    """Orders recorded as completed more than once (one record per completion)."""
    return sorted(order for order, times in Counter(completions).items() if times > 1)


def quota_broken(quota: int, used: int, granted: int, completed_orders: int) -> str | None:
    """What is wrong with a first-N offer's count after the run, or None: never more than its
    quota, its count exactly the slots granted, and full when enough orders completed."""
    if used > quota or granted > quota:
        return f"{max(used, granted)} taken of {quota}"
    if used != granted:
        return f"count {used} but {granted} slots granted"
    if granted != min(quota, completed_orders):
        return f"{granted} slots granted of {quota}, {completed_orders} orders completed"
    return None
