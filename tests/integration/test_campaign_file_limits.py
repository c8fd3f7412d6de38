"""`python -m bot campaigns load FILE` on SQLite and PostgreSQL: a file with numbers beyond what
the database holds, bytes that are not UTF-8, reminders at impossible times or more than a file
may hold is refused with its line named, no traceback, and nothing of it loaded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from domain.persistence.database import create_engine
from domain.persistence.tables import CampaignRow, OfferRow, RewardRow

CAMPAIGN = """
[[campaigns]]
code = "festival{n}"
name_zh = "充值节"
name_en = "Festival"
terms_zh = "条款"
terms_en = "Terms"
starts_at = 2026-11-01T00:00:00+08:00
ends_at = 2026-11-11T00:00:00+08:00
priority = 10
countdown_minutes = [1440, 120]
"""
OFFER = """
[[campaigns.offers]]
code = "double{n}"
kind = "points_multiplier"
multiplier = 2
quota = 100
"""
CASHBACK = """
[[campaigns.offers]]
code = "cash"
kind = "cashback_percent"
percent = 5
budget_yuan = 5000
"""
REWARD = """
[[rewards]]
code = "coupon-5"
kind = "coupon"
name_zh = "5元抵用券"
name_en = "¥5 coupon"
cost_points = 500
stock = 1000
value_yuan = 5
valid_days = 30
"""
GOOD = CAMPAIGN.format(n="") + OFFER.format(n="") + CASHBACK + REWARD


def _many(campaigns: int, offers: int) -> str:
    return "".join(
        CAMPAIGN.format(n=c) + "".join(OFFER.format(n=f"-{c}-{o}") for o in range(offers))
        for c in range(campaigns)
    )


def _line(text: str, fragment: str, nth: int = 0) -> int:
    lines = [n for n, line in enumerate(text.split("\n"), 1) if line.startswith(fragment)]
    return lines[nth]


# (a bad file, the start of the line that must be named and which of those lines, what is said)
BAD: dict[str, tuple[str, str, int, str]] = {
    "goods": (
        GOOD.replace('kind = "coupon"', 'kind = "goods"'),
        'kind = "goods"',
        0,
        "String should match pattern '^(coupon|data_pack)$'",
    ),
    "coupon without value": (
        GOOD.replace("value_yuan = 5\n", ""),
        "[[rewards]]",
        0,
        "a coupon reward needs value_yuan (above 0) and valid_days",
    ),
    "quota": (GOOD.replace("quota = 100", "quota = 99999999999"), "quota =", 0, "1000000000"),
    "stock": (GOOD.replace("stock = 1000", "stock = 3000000000"), "stock =", 0, "1000000000"),
    "budget": (
        GOOD.replace("budget_yuan = 5000", "budget_yuan = 99999999999"),
        "budget_yuan",
        0,
        "budget is at most 10,000,000 yuan",
    ),
    "cost": (
        GOOD.replace("cost_points = 500", "cost_points = -3000000000"),
        "cost_points",
        0,
        "greater than or equal to 1",
    ),
    "priority": (
        GOOD.replace("priority = 10", "priority = 9223372036854775807"),
        "priority",
        0,
        "less than or equal to 1000000",
    ),
    "countdown": (
        GOOD.replace("[1440, 120]", "[-60, 0]"),
        "countdown_minutes",
        0,
        "greater than or equal to 1",
    ),
    "long name": (
        GOOD.replace('name_en = "Festival"', f'name_en = "{"F" * 129}"'),
        "name_en",
        0,
        "at most 128 characters",
    ),
    "control character": (
        GOOD.replace('name_en = "Festival"', 'name_en = "Fest\\u0000ival"'),
        "name_en",
        0,
        "control characters",
    ),
    "campaigns": (_many(101, 1), "[[campaigns]]", 100, "at most 100 campaigns in a file"),
    "offers": (
        _many(1, 21),
        "[[campaigns.offers]]",
        20,
        "at most 20 offers in a campaign",
    ),
    "size": (GOOD + "# " + "x" * 1_100_000 + "\n", "# xxx", 0, "at most 1,048,576 bytes"),
}


async def _loaded(database_url: str) -> tuple[int, int, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            counts = [
                await connection.scalar(select(func.count()).select_from(table))
                for table in (CampaignRow, OfferRow, RewardRow)
            ]
    finally:
        await engine.dispose()
    return counts[0] or 0, counts[1] or 0, counts[2] or 0


async def _load(
    database_url: str, data: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> int:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    assert await asyncio.to_thread(main, ["migrate"]) == 0
    path = tmp_path / "campaigns.toml"
    path.write_bytes(data)
    return await asyncio.to_thread(main, ["campaigns", "load", str(path)])


async def test_a_good_file_loads(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await _load(database_url, GOOD.encode(), tmp_path, monkeypatch) == 0
    assert await _loaded(database_url) == (1, 2, 1)


@pytest.mark.parametrize("case", list(BAD))
async def test_a_file_beyond_the_limits_is_refused_with_its_line(
    case: str,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text, starts, nth, said = BAD[case]
    code = await _load(database_url, text.encode(), tmp_path, monkeypatch)
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"line {_line(text, starts, nth)}:" in err, err[:500]
    assert said in err, err[:500]
    assert "Traceback" not in err
    assert await _loaded(database_url) == (0, 0, 0)


async def test_a_file_that_is_not_utf8_is_refused_with_its_line(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = GOOD.encode("gb18030")  # saved in a Chinese Windows code page
    code = await _load(database_url, data, tmp_path, monkeypatch)
    err = capsys.readouterr().err
    assert code == 2
    assert f"line {_line(GOOD, 'name_zh')}: not UTF-8 text (byte 0xb3 at column 12)" in err
    assert "save the file as UTF-8" in err
    assert "Traceback" not in err
    assert await _loaded(database_url) == (0, 0, 0)
