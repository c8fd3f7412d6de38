"""When reminders are due: quiet hours in the customer's time zone, countdowns, slots left."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.reminders import (
    NO_QUIET_HOURS,
    QuietHours,
    countdown_plan,
    crossed,
    current_threshold,
    parse_key,
    slots_key,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = QuietHours.parse("22:00-08:00")


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def test_quiet_hours_are_read_from_settings_text() -> None:
    assert NIGHT == QuietHours(time(22), time(8))
    assert str(NIGHT) == "22:00-08:00"
    assert QuietHours.parse("off") == NO_QUIET_HOURS
    with pytest.raises(ValueError):
        QuietHours.parse("10pm to 8am")


def test_a_reminder_at_night_in_shanghai_moves_to_eight_in_the_morning() -> None:
    # 23:30 Beijing time is 15:30 UTC; the end of the night is 08:00 Beijing = 00:00 UTC.
    moment = local(SHANGHAI, 2026, 11, 10, 23, 30)
    assert moment == datetime(2026, 11, 10, 15, 30, tzinfo=UTC)
    assert NIGHT.end_after(moment, SHANGHAI) == datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
    # After midnight too, and exactly at the start; 08:00 itself is no longer quiet.
    early = local(SHANGHAI, 2026, 11, 11, 3, 0)
    assert NIGHT.end_after(early, SHANGHAI) == local(SHANGHAI, 2026, 11, 11, 8, 0)
    start = local(SHANGHAI, 2026, 11, 10, 22, 0)
    assert NIGHT.end_after(start, SHANGHAI) == local(SHANGHAI, 2026, 11, 11, 8, 0)
    eight = local(SHANGHAI, 2026, 11, 11, 8, 0)
    assert NIGHT.end_after(eight, SHANGHAI) == eight


def test_the_same_utc_moment_is_night_in_one_time_zone_and_day_in_another() -> None:
    moment = datetime(2026, 11, 10, 15, 30, tzinfo=UTC)  # 23:30 Shanghai, 16:30 Berlin
    assert NIGHT.end_after(moment, BERLIN) == moment
    assert NIGHT.end_after(moment, SHANGHAI) != moment


def test_quiet_hours_across_a_daylight_saving_change_end_at_local_eight() -> None:
    # Berlin leaves summer time on 25 October 2026 at 03:00: the night is 11 hours long.
    moment = local(BERLIN, 2026, 10, 24, 23, 0)
    moved = NIGHT.end_after(moment, BERLIN)
    assert moved.astimezone(BERLIN).hour == 8 and moved - moment == timedelta(hours=10)


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    )
)
def test_in_shanghai_a_moved_reminder_lands_at_eight_within_ten_hours(moment: datetime) -> None:
    moved = NIGHT.end_after(moment, SHANGHAI)
    local_moved = moved.astimezone(SHANGHAI)
    assert moved >= moment
    assert moved - moment <= timedelta(hours=10)
    if moved != moment:
        # No daylight saving in Shanghai: always exactly 08:00, always UTC+8.
        assert local_moved.time() == time(8) and local_moved.utcoffset() == timedelta(hours=8)
        assert NIGHT.contains(moment.astimezone(SHANGHAI).time())
    assert not NIGHT.contains(local_moved.time())


@given(st.integers(0, 23), st.integers(0, 23), st.integers(0, 24 * 60 - 1))
def test_any_quiet_hours_move_a_moment_out_of_them_and_never_back(
    start: int, end: int, minute: int
) -> None:
    quiet = QuietHours(time(start), time(end))
    moment = datetime(2026, 11, 10, tzinfo=SHANGHAI) + timedelta(minutes=minute)
    moved = quiet.end_after(moment, SHANGHAI)
    assert moved >= moment and not quiet.contains(moved.astimezone(SHANGHAI).time())
    assert moved - moment < timedelta(days=1)


def test_countdown_reminders_before_an_evening_end_keep_their_times() -> None:
    ends = local(SHANGHAI, 2026, 11, 11, 20, 0)
    plan = countdown_plan(ends, [1440, 120, 15], NIGHT, SHANGHAI)
    assert [(p.key, p.due_at) for p in plan] == [
        ("t1440", local(SHANGHAI, 2026, 11, 10, 20, 0)),
        ("t120", local(SHANGHAI, 2026, 11, 11, 18, 0)),
        ("t15", local(SHANGHAI, 2026, 11, 11, 19, 45)),
    ]
    # Each is stale once the next is due; the last at the end.
    assert [p.stale_at for p in plan] == [plan[1].due_at, plan[2].due_at, ends]


def test_a_reminder_that_could_only_arrive_after_the_end_is_dropped() -> None:
    # The deal ends at 07:00: "2 hours left" (05:00) and "15 min left" (06:45) fall in the
    # night and could only come at 08:00, after the end; "24 hours left" (07:00 the day
    # before) is fine.
    ends = local(SHANGHAI, 2026, 11, 11, 7, 0)
    plan = countdown_plan(ends, [1440, 120, 15], NIGHT, SHANGHAI)
    assert [p.key for p in plan] == ["t1440"]
    assert plan[0].stale_at == ends


def test_two_reminders_moved_to_the_same_morning_become_the_later_one() -> None:
    # Ends 09:00: "2 hours left" (07:00) moves to 08:00; "15 min left" (08:45) stays.
    ends = local(SHANGHAI, 2026, 11, 11, 9, 0)
    plan = countdown_plan(ends, [120, 15], NIGHT, SHANGHAI)
    assert [(p.key, p.due_at) for p in plan] == [
        ("t120", local(SHANGHAI, 2026, 11, 11, 8, 0)),
        ("t15", local(SHANGHAI, 2026, 11, 11, 8, 45)),
    ]
    # Ends 08:10: both would arrive at 08:00 together; only "15 min left" is kept.
    ends = local(SHANGHAI, 2026, 11, 11, 8, 10)
    plan = countdown_plan(ends, [120, 15], NIGHT, SHANGHAI)
    assert [(p.key, p.due_at) for p in plan] == [("t15", local(SHANGHAI, 2026, 11, 11, 8, 0))]


def test_slots_left_thresholds() -> None:
    assert crossed(50, [10, 20]) == []
    assert crossed(20, [10, 20]) == [20]
    assert crossed(3, [10, 20]) == [10, 20]
    assert crossed(0, [10, 20]) == []  # sold out: nothing to urge
    assert current_threshold(3, [10, 20]) == 10
    assert current_threshold(15, [10, 20]) == 20
    assert parse_key(slots_key(10, "first-100")) == (parse_key("s10:x")[0], 10, "first-100")
