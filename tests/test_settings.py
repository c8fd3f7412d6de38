"""Settings come from the environment and `.env`; the documented example is valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.assembly import build_ports
from bot.settings import Frontend, Settings
from domain.integrations.sandbox import SandboxGateway
from domain.orders import PaymentMethod
from domain.phone import Carrier
from domain.services.registry import Ports

ROOT = Path(__file__).resolve().parents[1]


def test_the_example_env_file_is_valid_and_means_the_embedded_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("BOT_TOKEN", "DATABASE_URL", "PAYMENT_PROVIDER_TOKEN", "WEBHOOK_URL", "DEMO_MODE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    assert settings.token is None and settings.chosen_frontend is Frontend.CONSOLE
    assert settings.database_url.startswith("sqlite+aiosqlite:///./var/")
    # The example is a real configuration: no sandbox payment (demo mode is off).
    assert settings.demo_mode is False
    assert settings.offered_payment_methods == (PaymentMethod.WALLET,)
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


def test_without_demo_mode_no_sandbox_payment_is_offered_and_no_gateway_means_no_start() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.demo_mode is False
    assert settings.offered_payment_methods == (PaymentMethod.WALLET,)
    assert settings.missing_gateway is not None
    assert "GATEWAY_URL" in settings.missing_gateway and "DEMO_MODE" in settings.missing_gateway


def test_demo_mode_offers_sandbox_payment_and_the_sandbox_gateway() -> None:
    settings = Settings(_env_file=None, demo_mode=True)  # type: ignore[call-arg]
    assert settings.offered_payment_methods == (PaymentMethod.WALLET, PaymentMethod.SANDBOX)
    assert settings.sandbox_gateway and settings.missing_gateway is None


def test_a_real_gateway_or_provider_token_in_demo_mode_turns_sandbox_payment_off() -> None:
    with_gateway = Settings(_env_file=None, demo_mode=True, gateway_url="https://carrier.example")  # type: ignore[call-arg]
    assert PaymentMethod.SANDBOX not in with_gateway.offered_payment_methods
    assert not with_gateway.sandbox_gateway
    with_token = Settings(_env_file=None, demo_mode=True, payment_provider_token="prov")  # type: ignore[call-arg, arg-type]
    assert with_token.offered_payment_methods == (PaymentMethod.WALLET, PaymentMethod.TELEGRAM)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"payment_methods": "wallet,sandbox"}, "DEMO_MODE"),
        (
            {
                "demo_mode": True,
                "payment_methods": "wallet,sandbox",
                "gateway_url": "https://carrier.example",
            },
            "GATEWAY_URL",
        ),
        (
            {"demo_mode": True, "payment_methods": "sandbox", "payment_provider_token": "prov"},
            "PAYMENT_PROVIDER_TOKEN",
        ),
        (
            {"payment_methods": "wallet,sandbox", "gateway_url": "https://carrier.example"},
            "DEMO_MODE",
        ),
    ],
)
def test_sandbox_payment_mixed_with_a_real_configuration_is_refused(
    values: dict[str, object], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def test_the_wiring_chooses_the_ports_and_never_defaults_to_the_sandbox() -> None:
    with pytest.raises(TypeError):
        Ports()  # type: ignore[call-arg]
    real = build_ports(Settings(_env_file=None))  # type: ignore[call-arg]
    assert not isinstance(real.gateway, SandboxGateway) and dict(real.providers) == {}
    demo = build_ports(Settings(_env_file=None, demo_mode=True))  # type: ignore[call-arg]
    assert isinstance(demo.gateway, SandboxGateway)
    assert list(demo.providers) == [PaymentMethod.SANDBOX]


def test_by_default_an_update_waits_seconds_not_minutes_for_a_database_connection() -> None:
    """A customer whose update finds every connection in use is answered "busy, try again"
    within seconds: the pool's wait is shorter than a chat's wait for its turn (both answered
    503, so Telegram sends the update again)."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_pool_timeout_seconds <= 10
    assert settings.database_pool_timeout_seconds < settings.chat_turn_wait_seconds


def test_three_workers_at_the_default_pool_fit_in_a_default_postgresql_server() -> None:
    """PostgreSQL allows 100 connections unless told otherwise; three webhook workers at the
    default pool leave a fifth of them for migrations, tools and staff (the README's rule)."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert 3 * (settings.database_pool_size + settings.database_max_overflow) <= 100 - 20
