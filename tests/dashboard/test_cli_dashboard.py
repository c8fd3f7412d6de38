"""The dashboard from the command line: a sign-in link for staff, and the dashboard served
alone by `python -m bot dashboard`."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from bot.assembly import build_app
from tests.conftest import make_settings
from tests.fakes.bot_api import FakeBotApi, FakeUser
from tests.test_cli import ROOT, SETTINGS_OF_THE_MACHINE, _run


def test_staff_get_a_sign_in_link_from_the_command_line_and_others_none(tmp_path: Path) -> None:
    given = _run(["staff", "link", "77"], tmp_path, ADMIN_IDS="77")
    assert given.returncode == 0, given.stderr
    assert given.stdout.startswith("http://127.0.0.1:8081/signin?token=")
    public = _run(
        ["staff", "link", "77"], tmp_path, ADMIN_IDS="77", DASHBOARD_URL="https://ops.example/"
    )
    assert public.stdout.startswith("https://ops.example/signin?token=")
    refused = _run(["staff", "link", "78"], tmp_path, ADMIN_IDS="77")
    assert refused.returncode == 2 and "not staff" in refused.stderr
    assert "token" not in refused.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_dashboard_is_served_alone_until_stopped_and_sends_previews_through_the_bot_api(
    tmp_path: Path,
) -> None:
    port = _free_port()
    database = f"sqlite+aiosqlite:///{tmp_path}/dashboard.sqlite3"
    async with FakeBotApi() as api:
        api.add_user(FakeUser(77, "客服"))
        settings = {
            "ADMIN_IDS": "77",
            "BOT_TOKEN": api.token,
            "TELEGRAM_API_URL": api.base_url,
            "DASHBOARD_LISTEN": f"127.0.0.1:{port}",
            "DATABASE_URL": database,
        }
        app = await build_app(make_settings(database, admin_ids="77"))
        try:
            token = await app.services.dashboard.issue_link(77)  # as `staff link 77` gives
        finally:
            await app.close()
        env = {k: v for k, v in os.environ.items() if k not in SETTINGS_OF_THE_MACHINE}
        env.update(settings, PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "dashboard", cwd=tmp_path, env=env
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                for _ in range(100):
                    try:
                        async with http.get(f"{base}/healthz") as answer:
                            if answer.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.2)
                async with http.get(f"{base}/metrics") as metrics:
                    assert "bot_orders" in await metrics.text()
                origin = {"Origin": base}
                async with http.post(
                    f"{base}/signin", data={"token": token}, headers=origin
                ) as signed_in:
                    assert signed_in.status == 200  # the overview, after the redirect
                async with http.get(f"{base}/broadcasts") as page:
                    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
                assert csrf is not None
                form = {
                    "csrf": csrf.group(1),
                    "text_zh": "明天开始！",
                    "text_en": "Starts tomorrow!",
                    "do": "test",
                }
                async with http.post(f"{base}/broadcasts", data=form, headers=origin) as tested:
                    assert "预览已发给您" in await tested.text()
            assert [m["text"] for m in api.messages_to(77)] == ["明天开始！", "Starts tomorrow!"]
        finally:
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), timeout=30) == 0
