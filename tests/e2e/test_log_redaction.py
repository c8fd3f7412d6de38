"""No secret and no full phone number in the log, at DEBUG, even when the Bot API connection
drops (the framework's own error lines carry request URLs, and a Bot API URL the token)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.log_redaction import Redactor, install_redaction, settings_secrets
from bot.settings import Settings
from tests.conftest import make_settings
from tests.e2e.test_hardening import running
from tests.fakes.bot_api import FakeBotApi, FakeUser

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "7123456789:AAH9x_redactMe-0123456789abcdefghijk"
SECRETS = {
    "payment_provider_token": "284685063:TEST:ProviderSecret42",
    "gateway_api_key": "gw-key-5f1e2d3c4b5a",
    "gateway_url": "http://127.0.0.1:9/carrier",
}
NUMBER = "18612345678"
CUSTOMER = FakeUser(id=7001, first_name="Wang", language_code="en")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line at DEBUG, through a handler on the root logger as `python -m bot` has."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for other in root.handlers:
            for existing in [f for f in other.filters if isinstance(f, Redactor)]:
                other.removeFilter(existing)


async def answer_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1024)
    writer.write(b"\x16\x03\x01 not HTTP\r\n\r\n")
    await writer.drain()
    writer.close()


@pytest.mark.parametrize("framework", ["ptb", "aiogram"])
async def test_the_token_and_numbers_never_reach_the_log(
    captured: io.StringIO, sqlite_url: str, framework: str
) -> None:
    async with FakeBotApi(token=TOKEN) as api:
        settings: Settings = make_settings(
            sqlite_url, bot_token=TOKEN, telegram_api_url=api.base_url, **SECRETS
        )
        install_redaction(settings_secrets(settings))
        async with running(api, sqlite_url, framework, **SECRETS):
            api.send_text(CUSTOMER, f"/bind {NUMBER}")
            await api.wait_for_message(CUSTOMER.id, 2)
            api.share_contact(CUSTOMER, f"+86 {NUMBER}")
            await api.wait_for_message(CUSTOMER.id)
            port = int(api.base_url.rsplit(":", 1)[1])
            await api.stop()  # the connection to the Bot API drops ...
            await asyncio.sleep(0.5)
            # ... and a broken middlebox answers in its place: the HTTP clients' errors then
            # carry the request URL, and with it the token.
            broken = await asyncio.start_server(answer_garbage, "127.0.0.1", port)
            try:
                await asyncio.sleep(1.5)
            finally:
                broken.close()
            await api.start()  # a server again, for a clean stop

    log = captured.getvalue()
    assert "getUpdates" in log  # the failures were written
    assert TOKEN not in log
    assert TOKEN.split(":", 1)[1] not in log
    assert NUMBER not in log
    for secret in ("ProviderSecret42", "gw-key-5f1e2d3c4b5a"):
        assert secret not in log


def test_the_redactor_masks_numbers_and_secrets() -> None:
    redactor = Redactor([TOKEN, "hook-secret-1"])
    line = (
        f"POST http://h/bot{TOKEN}/getUpdates secret=hook-secret-1 phone +86 186 1234 5678, "
        f"13800138000 id=1700000000 charge=4412008113000000001 other=999999:{'x' * 35}"
    )

    redacted = redactor.redact(line)

    assert redacted == (
        "POST http://h/bot[redacted]/getUpdates secret=[redacted] phone 186****5678, "
        "138****8000 id=1700000000 charge=4412008113000000001 other=[redacted bot token]"
    )


@pytest.mark.parametrize("framework", ["ptb", "aiogram"])
async def test_a_bot_process_that_cannot_reach_the_bot_api_writes_no_token(
    tmp_path: Path, framework: str
) -> None:
    broken = await asyncio.start_server(answer_garbage, "127.0.0.1", 0)
    port = broken.sockets[0].getsockname()[1]
    env = {key: value for key, value in os.environ.items() if key not in {"WEBHOOK_URL"}}
    env.update(
        PYTHONPATH=str(ROOT),
        LOG_LEVEL="DEBUG",
        BOT_TOKEN=TOKEN,
        BOT_FRONTEND=framework,
        TELEGRAM_API_URL=f"http://127.0.0.1:{port}",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3",
        PAYMENT_PROVIDER_TOKEN=SECRETS["payment_provider_token"],
        GATEWAY_URL="http://127.0.0.1:9/carrier",  # a real configuration; never reached here
        GATEWAY_API_KEY="carrier-key",
    )
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=25)
    finally:
        broken.close()
    text = output.decode(errors="replace")

    assert process.returncode == 1, text[-2000:]
    assert "getMe" in text or "stopped on an error" in text
    assert TOKEN not in text and TOKEN.split(":", 1)[1] not in text
    assert "ProviderSecret42" not in text
