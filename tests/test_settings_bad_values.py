"""Every setting refuses a bad value at start-up with a message naming the variable, before
anything is touched: each number setting a word, a number out of its range or too long, each
switch and choice a word it does not know, and the settings read as text that are checked."""

from __future__ import annotations

import enum
from typing import Any, get_args

import pytest
from annotated_types import Ge, Gt
from pydantic import ValidationError

from bot.cli import main
from bot.settings import Settings, settings_problems

TOO_LONG = "1" + "0" * 30


def _bad_values(name: str, annotation: Any, metadata: list[Any]) -> list[str]:
    kinds = set(get_args(annotation)) or {annotation}
    if bool in kinds:
        return ["maybe"]
    if int in kinds:
        values = ["1.5", TOO_LONG]
        floor = [m for m in metadata if isinstance(m, Ge | Gt)]
        if floor:
            values.append("-1")
        return values
    if float in kinds:
        values = ["soon", "inf"]
        if any(isinstance(m, Ge | Gt) for m in metadata):
            values.append("-1")
        return values
    if any(isinstance(k, type) and issubclass(k, enum.Enum) for k in kinds):
        return ["nonsense"]
    return []


# The settings read as text or lists that are checked, with a bad value each.
TEXT_CASES = [
    ("ADMIN_IDS", "1,two"),
    ("PAYMENT_METHODS", "bitcoin"),
    ("SERVED_CARRIERS", "vodafone"),
    ("RISK_ACTIONS", "orders_per_hour=ban"),
    ("QUIET_HOURS", "25:00-07:00"),
    ("REMINDER_TIMEZONE", "Mars/Olympus"),
    ("STAFF_CHAT_LANGUAGE", "klingon"),
    ("DASHBOARD_LISTEN", "127.0.0.1:http"),
    ("WEBHOOK_LISTEN", "0.0.0.0:port"),
    ("LOG_LEVEL", "LOUD"),
    ("DASHBOARD_URL", "ftp://dash"),
    ("WEBHOOK_URL", "https://bot.example.com/hook"),  # without WEBHOOK_SECRET
]

CASES = [
    (name.upper(), value)
    for name, field in Settings.model_fields.items()
    for value in _bad_values(name, field.annotation, list(field.metadata))
] + TEXT_CASES


def test_every_number_switch_and_choice_is_covered() -> None:
    named = {name for name, _ in CASES}
    assert len(named) > 75
    assert {"RISK_ORDERS_PER_HOUR", "DEMO_MODE", "BOT_FRONTEND", "STAFF_CHAT_ID"} <= named


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v[:12]}" for n, v in CASES])
def test_a_bad_value_is_refused_naming_the_variable(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert name in settings_problems(refused.value)


def test_start_up_stops_before_anything_naming_the_variable_and_not_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.setenv("RISK_ORDERS_PER_HOUR", "-1")
    monkeypatch.setenv("BOT_TOKEN", "123:secret-token-value")
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.com/hook")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/never/x.sqlite3")
    assert main(["migrate"]) == 2
    said = capsys.readouterr().err
    assert "refusing to start" in said
    assert "RISK_ORDERS_PER_HOUR: Input should be greater than or equal to 0" in said
    assert "secret-token-value" not in said
