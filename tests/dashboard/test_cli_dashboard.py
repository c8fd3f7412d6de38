"""The dashboard from the command line: a sign-in link for staff, and the dashboard served
alone by `python -m bot dashboard`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


def test_the_dashboard_is_served_alone_until_stopped(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_OF_THE_MACHINE}
    env.update(PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING", DASHBOARD_LISTEN=f"127.0.0.1:{port}")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "dashboard"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        body = b""
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = r.read()
                break
            except OSError:
                time.sleep(0.2)
        assert b'"ok"' in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert b"bot_orders" in r.read()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
