"""Countdown and slots-left reminders: when each is due, and quiet hours. Pure rules.

A campaign's countdown (`countdown_minutes = [1440, 120, 15]`) gives one reminder per entry,
due that long before the campaign ends. Its slots-left thresholds (`slots_left_reminders = [10]`)
give one reminder per offer with a quota when its remaining slots reach the threshold. Quiet
hours (e.g. 22:00-08:00 in the customer's time zone) move a reminder to their end, and a reminder
that could then only arrive after the deal ends, or together with the next one, is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

# Every subscription to a campaign's reminders carries this scope, or one offer's code.
WHOLE_CAMPAIGN = "*"


class ReminderKind(StrEnum):
    COUNTDOWN = "t"  # key "t120": 120 minutes before the end
    SLOTS_LEFT = "s"  # key "s10:first-100": 10 slots left of offer "first-100"


class SkipReason(StrEnum):
    """Why a planned reminder was not sent: checked again at the moment of sending."""

    ERASED = "erased"
    UNREACHABLE = "unreachable"
    UNSUBSCRIBED = "unsubscribed"
    OVER = "over"
    LATE = "late"
    SOLD_OUT = "sold_out"
    CLAIMED = "claimed"
    SUPERSEDED = "superseded"
    QUIET_HOURS = "quiet_hours"


@dataclass(frozen=True)
class QuietHours:
    """A daily stretch of local time with no reminders; `start == end` means none."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """ "22:00-08:00" (over midnight), "13:00-14:00", or "" / "off" for none."""
        if text.strip().lower() in ("", "off", "none"):
            return cls(time(0), time(0))
        try:
            first, second = (part.strip() for part in text.split("-"))
            return cls(time.fromisoformat(first), time.fromisoformat(second))
        except ValueError as error:
            raise ValueError(f"quiet hours are written HH:MM-HH:MM, not {text!r}") from error

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def end_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """`moment` itself outside quiet hours; inside, the moment they end (in UTC)."""
        local = moment.astimezone(zone)
        if not self.contains(local.time()):
            return moment
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=zone).astimezone(UTC)


NO_QUIET_HOURS = QuietHours(time(0), time(0))


@dataclass(frozen=True)
class PlannedReminder:
    """One reminder for everyone in one time zone: due at `due_at`, pointless from `stale_at`."""

    key: str
    due_at: datetime
    stale_at: datetime


def countdown_key(minutes: int) -> str:
    return f"{ReminderKind.COUNTDOWN.value}{minutes}"


def slots_key(threshold: int, offer_code: str) -> str:
    return f"{ReminderKind.SLOTS_LEFT.value}{threshold}:{offer_code}"


def parse_key(key: str) -> tuple[ReminderKind, int, str | None]:
    """ "t120" -> (COUNTDOWN, 120, None); "s10:first-100" -> (SLOTS_LEFT, 10, "first-100")."""
    kind = ReminderKind(key[0])
    number, _, offer = key[1:].partition(":")
    return kind, int(number), offer or None


def countdown_plan(
    ends_at: datetime, minutes: Sequence[int], quiet: QuietHours, zone: ZoneInfo
) -> list[PlannedReminder]:
    """The countdown reminders of a deal ending at `ends_at`, in the order they are due.

    A reminder in quiet hours moves to their end; it is dropped when it would then arrive
    at or after the end of the deal, or together with the next reminder (which says less time
    left, so it is the one kept). Each is stale once the next one is due, or the deal is over.
    """
    ordered = sorted({m for m in minutes if m > 0}, reverse=True)
    moved = [(m, quiet.end_after(ends_at - timedelta(minutes=m), zone)) for m in ordered]
    kept = [
        (m, due)
        for index, (m, due) in enumerate(moved)
        if due < ends_at and (index + 1 == len(moved) or moved[index + 1][1] > due)
    ]
    return [
        PlannedReminder(
            countdown_key(m), due, kept[index + 1][1] if index + 1 < len(kept) else ends_at
        )
        for index, (m, due) in enumerate(kept)
    ]


def slots_reminder(
    now: datetime, ends_at: datetime, quiet: QuietHours, zone: ZoneInfo
) -> tuple[datetime, datetime] | None:
    """(due, stale) of a slots-left reminder raised now; None when quiet hours outlast the deal."""
    due = quiet.end_after(now, zone)
    return None if due >= ends_at else (due, ends_at)


def crossed(slots_left: int, thresholds: Sequence[int]) -> list[int]:
    """The thresholds the remaining slots have reached (none once sold out)."""
    if slots_left <= 0:
        return []
    return sorted(t for t in set(thresholds) if slots_left <= t)


def current_threshold(slots_left: int, thresholds: Sequence[int]) -> int | None:
    """The one threshold whose reminder still speaks for `slots_left` (the smallest reached)."""
    reached = crossed(slots_left, thresholds)
    return reached[0] if reached else None
