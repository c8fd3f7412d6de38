"""Settings come from the environment and `.env`; the documented example is valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Frontend, Settings
from domain.orders import PaymentMethod
from domain.phone import Carrier

ROOT = Path(__file__).resolve().parents[1]


def test_the_example_env_file_is_valid_and_means_the_embedded_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("BOT_TOKEN", "DATABASE_URL", "PAYMENT_PROVIDER_TOKEN", "WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    assert settings.token is None and settings.chosen_frontend is Frontend.CONSOLE
    assert settings.database_url.startswith("sqlite+aiosqlite:///./var/")
    assert settings.offered_payment_methods == (PaymentMethod.WALLET, PaymentMethod.SANDBOX)
    assert settings.served_carriers == frozenset(Carrier)
    assert settings.staff_chat_id is None and settings.admin_ids == frozenset()


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("BOT_FRONTEND", "ptb")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081/")
    monkeypatch.setenv("ADMIN_IDS", "1, 2;3")
    monkeypatch.setenv("PAYMENT_PROVIDER_TOKEN", "prov")
    monkeypatch.setenv("SERVED_CARRIERS", "unicom")
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.com/tg/hook")
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret-token")
    monkeypatch.setenv("WEBHOOK_LISTEN", "127.0.0.1:9000")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.chosen_frontend is Frontend.PTB
    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    assert settings.admin_ids == frozenset({1, 2, 3})
    assert settings.offered_payment_methods[-1] is PaymentMethod.TELEGRAM
    assert settings.served_carriers == frozenset({Carrier.UNICOM})
    assert settings.webhook_path == "/tg/hook"
    assert settings.webhook_host_port == ("127.0.0.1", 9000)
    assert "123:abc" not in repr(settings)  # secrets never show in logs
    assert "s3cret-token" not in repr(settings)


def test_bad_values_are_refused_with_the_setting_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_FRONTEND", "telegraph")
    with pytest.raises(ValidationError, match="bot_frontend"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("BOT_FRONTEND")
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.com/tg/hook")
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        Settings(_env_file=None)  # type: ignore[call-arg]
