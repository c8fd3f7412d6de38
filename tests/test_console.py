"""The console as a newcomer meets it: its own words in the customer's language, log lines kept
out of the conversation, a late message that leaves the screen's button numbers alone, and a
proper invite link without BOT_USERNAME."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from bot.console import ConsoleFrontend
from domain.customers import TelegramProfile
from handlers.contract import Button, Outcome, Reply
from handlers.router import ConversationRouter

ROOT = Path(__file__).resolve().parents[1]


def _console(language: str = "zh-hans") -> tuple[ConsoleFrontend, io.StringIO]:
    out = io.StringIO()
    router = ConversationRouter(services=None)  # type: ignore[arg-type]
    user = TelegramProfile(42, "Console", None, None, language)
    return ConsoleFrontend(router, user, stdin=io.StringIO(""), stdout=out), out


async def test_a_late_message_does_not_renumber_the_screen_being_read() -> None:
    console, out = _console()
    screen = Reply("请选择面额：", ((Button("10元", "p:1"), Button("20元", "p:2")),))
    console.render(Outcome(replies=[screen]))
    receipt = Reply("✅ 充值成功", ((Button("再充一次", "again:7"),),))
    assert await console.send(42, receipt)
    assert console.event_for("2").button_data == "p:2"  # still the 20元 the customer sees
    assert console.event_for("3").button_data == "again:7"
    assert "[3] 再充一次" in out.getvalue()


async def test_the_consoles_own_words_follow_the_language() -> None:
    console, out = _console("zh-hans")
    await console.run()
    assert out.getvalue().startswith("（控制台：输入 /start 开始")
    console, out = _console("en")
    await console.run()
    assert out.getvalue().startswith("(console: type /start")


def run_console(folder: Path, lines: list[str], **settings: str) -> str:
    """`python -m bot run` in demo mode in `folder` with no token (the console), `lines` typed
    one after another; its standard output once the input ended and it stopped cleanly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE"))}
    env.update(PYTHONPATH=str(ROOT), DEMO_MODE="true", **settings)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # The sweeps under way when the input ended finished quietly: nothing was cut off.
    assert "Traceback" not in result.stderr and " ERROR " not in result.stderr, result.stderr
    assert " INFO " not in result.stderr
    return result.stdout


def test_the_console_keeps_log_lines_out_and_links_invites(tmp_path: Path) -> None:
    stdout = run_console(tmp_path, ["/start", "/invite"], LOG_LEVEL="INFO")
    assert " INFO " not in stdout
    log = (tmp_path / "var" / "bot.log").read_text(encoding="utf-8")
    assert " INFO " in log and "+08:00" in log
    assert "https://t.me/your_wallet_bot?start=ref_" in stdout


def test_staff_at_the_console_answer_a_ticket_and_are_told_it_went(tmp_path: Path) -> None:
    """The console user is staff here: a complaint typed as a customer becomes ticket #1, and
    `/answer 1 …` says the answer was sent (an unknown ticket says so too), never silence."""
    script = [
        "/start",
        "1",  # agree to the privacy notice
        "1",  # back to the menu
        "9",  # feedback and complaints
        "2",  # a complaint
        "2",  # recharge not arrived
        "充值没到账，请帮忙查一下订单",
        "/answer 1 已为您处理",
        "/answer 9 再看看",
    ]
    stdout = run_console(tmp_path, script, ADMIN_IDS="1", CONSOLE_USER_ID="1")
    after_ticket = stdout.split("> /answer 1 已为您处理", 1)[1]
    answered, unknown = after_ticket.split("> /answer 9 再看看", 1)
    assert "工单 #1" in answered and "已发送" in answered
    assert "找不到工单 #9" in unknown
