"""The command line as an operator uses it: migrate, seed-demo and a scripted console chat."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from domain.persistence.migrate import head_revision

ROOT = Path(__file__).resolve().parents[1]


SETTINGS_OF_THE_MACHINE = {
    "STAFF_CHAT_ID",
    "BOT_TOKEN",
    "DATABASE_URL",
    "WEBHOOK_URL",
    "DEMO_MODE",
    "GATEWAY_URL",
    "PAYMENT_METHODS",
    "PAYMENT_PROVIDER_TOKEN",
}


def _run(
    args: list[str], tmp_path: Path, stdin: str = "", **settings: str
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_OF_THE_MACHINE}
    env.update(settings)
    env["PYTHONPATH"] = str(ROOT)
    env["LOG_LEVEL"] = "WARNING"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )


def test_console_conversation_scripted_on_standard_input(tmp_path: Path) -> None:
    script = "/start\n3\n1\n12345\n18612345678\n/language\n2\n/phones\n"
    result = _run(["run"], tmp_path, script, DEMO_MODE="true")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Console，您好！" in out
    assert "[3] 📱 我的号码" in out
    assert "手机号应为以 1 开头的 11 位数字" in out
    assert "绑定成功：186****5678（中国联通）" in out
    assert "Language set to English." in out
    assert "• 186****5678 (China Unicom)" in out
    assert "18612345678" not in out.replace("> 18612345678", "")
    # The embedded default: an SQLite file under ./var/
    assert (tmp_path / "var" / "wallet-bot.sqlite3").exists()


def test_migrate_and_seed_demo_are_repeatable(tmp_path: Path) -> None:
    first = _run(["migrate"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"revision {head_revision()}" in first.stdout
    for _ in range(2):
        seeded = _run(["seed-demo"], tmp_path)
        assert seeded.returncode == 0, seeded.stderr
    result = _run(["run"], tmp_path, "/phones\n", DEMO_MODE="true")
    assert "186****5678" in result.stdout and "138****8000" in result.stdout
    assert result.stdout.count("****") == 4  # two numbers, each in the list and on a button


def test_campaign_files_load_whole_or_are_refused_with_the_line(tmp_path: Path) -> None:
    demo = ROOT / "bot" / "demo" / "unicom_wallet_campaign.toml"
    loaded = _run(["campaigns", "load", str(demo)], tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 3 campaigns, 7 offers, 2 rewards" in loaded.stdout
    bad = tmp_path / "bad.toml"
    text = demo.read_text(encoding="utf-8").replace(
        'kind = "coupon"\ncoupon_code', 'kind = "coupon"\nx_code'
    )
    bad.write_text(text, encoding="utf-8")
    refused = _run(["campaigns", "load", str(bad)], tmp_path)
    assert refused.returncode == 2
    line = text.splitlines().index('x_code = "WALLET5"') + 1
    assert f"line {line}:" in refused.stderr and "x_code" in refused.stderr


def test_staff_roles_are_granted_and_revoked_from_the_command_line(tmp_path: Path) -> None:
    refused = _run(["run"], tmp_path, "/tickets\n", DEMO_MODE="true")
    assert "抱歉，此功能仅限客服人员使用。" in refused.stdout
    granted = _run(["staff", "grant", "1", "supervisor"], tmp_path)
    assert granted.returncode == 0, granted.stderr
    assert "1: supervisor" in granted.stdout
    allowed = _run(["run"], tmp_path, "/tickets\n", DEMO_MODE="true")
    assert "没有待处理的工单。" in allowed.stdout
    revoked = _run(["staff", "revoke", "1"], tmp_path)
    assert revoked.returncode == 0 and "1: no staff role" in revoked.stdout
    assert "仅限客服人员" in _run(["run"], tmp_path, "/tickets\n", DEMO_MODE="true").stdout
    assert _run(["staff", "grant", "1", "king"], tmp_path).returncode != 0


def test_run_refuses_to_start_without_a_carrier_gateway_outside_demo_mode(tmp_path: Path) -> None:
    result = _run(["run"], tmp_path, "/start\n")
    assert result.returncode == 2
    assert "refusing to start" in result.stderr
    assert "GATEWAY_URL" in result.stderr and "DEMO_MODE=true" in result.stderr
    assert "您好" not in result.stdout


def test_run_refuses_sandbox_payment_beside_a_real_gateway_or_provider_token(
    tmp_path: Path,
) -> None:
    for real in ({"GATEWAY_URL": "https://carrier.example/api"}, {"PAYMENT_PROVIDER_TOKEN": "x"}):
        result = _run(
            ["run"],
            tmp_path,
            "/start\n",
            DEMO_MODE="true",
            PAYMENT_METHODS="wallet,sandbox",
            **real,
        )
        assert result.returncode == 2
        assert "sandbox" in result.stderr and next(iter(real)) in result.stderr
        assert "Traceback" not in result.stderr


def test_make_run_is_a_demo_the_customer_can_pay_in_with_the_sandbox(tmp_path: Path) -> None:
    """`make run` on a fresh clone: demo mode, a recharge in the console paid with the sandbox."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "DEMO_MODE=true $(BIN)/python -m bot run" in makefile
    script = "/start\n/recharge\n18612345678\n1\n2\n"
    result = _run(["run"], tmp_path, script, DEMO_MODE="true")
    assert result.returncode == 0, result.stderr
    assert "已支付，正在充值" in result.stdout and "支付方式：模拟支付" in result.stdout


def test_run_says_at_start_up_when_no_staff_chat_is_set(tmp_path: Path) -> None:
    without = _run(["run"], tmp_path, "/start\n", DEMO_MODE="true")
    assert without.returncode == 0, without.stderr
    assert "no staff chat is set (STAFF_CHAT_ID)" in without.stderr
    assert "/tickets" in without.stderr
    with_chat = _run(["run"], tmp_path, "/start\n", DEMO_MODE="true", STAFF_CHAT_ID="-100555")
    assert with_chat.returncode == 0, with_chat.stderr
    assert "STAFF_CHAT_ID" not in with_chat.stderr
