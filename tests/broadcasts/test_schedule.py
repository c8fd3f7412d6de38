"""Schedule arithmetic: a typed local time is read in the customers' time zone, and a moment is
in quiet hours exactly when its local time is (over midnight too)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any, cast
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from domain.reminders import QuietHours
from domain.services.broadcasts import BroadcastConfig, BroadcastService
from handlers.features.broadcast_desk import parse_local_time

SHANGHAI = ZoneInfo("Asia/Shanghai")
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


def service(quiet: str) -> BroadcastService:
    config = BroadcastConfig(quiet_hours=QuietHours.parse(quiet), timezone="Asia/Shanghai")
    return BroadcastService(cast(Any, None), config)


@given(moments)
def test_a_typed_local_time_is_read_in_the_customers_zone(moment: datetime) -> None:
    local = moment.astimezone(SHANGHAI).replace(second=0, microsecond=0)
    parsed = parse_local_time(local.strftime("%Y-%m-%d %H:%M"), "Asia/Shanghai")
    assert parsed is not None
    assert parsed == local
    assert parsed.astimezone(UTC) == local.astimezone(UTC)


@given(moments)
def test_quiet_hours_over_midnight(moment: datetime) -> None:
    local = moment.astimezone(SHANGHAI).time()
    quiet = local >= time(22) or local < time(8)
    assert service("22:00-08:00").in_quiet_hours(moment) is quiet
    assert service("off").in_quiet_hours(moment) is False


@given(moments, st.integers(0, 23), st.integers(1, 12))
def test_quiet_hours_within_a_day(moment: datetime, start: int, length: int) -> None:
    end = (start + length) % 24
    if end <= start:
        return  # over midnight: the case above
    local = moment.astimezone(SHANGHAI).time()
    quiet = time(start) <= local < time(end)
    assert service(f"{start:02d}:00-{end:02d}:00").in_quiet_hours(moment) is quiet


def test_what_is_not_a_time_is_refused() -> None:
    for text in ("明天晚上", "2026-11-11", "2026-13-01 10:00", "2026-11-11 25:00", ""):
        assert parse_local_time(text, "Asia/Shanghai") is None
    assert parse_local_time(" 2026-11-11 20:00 ", "Asia/Shanghai") == datetime(
        2026, 11, 11, 20, 0, tzinfo=SHANGHAI
    )
