"""The deployment recipe under deploy/ is well-formed: nginx accepts its configuration (Debian's
nginx, when installed), the runner script parses, the compose file names its services."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.mark.skipif(
    (shutil.which("nginx") is None or shutil.which("openssl") is None)
    and os.environ.get("CI") != "true",  # CI installs both: there a missing one fails
    reason="nginx (Debian's package) or openssl is not installed",
)
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=bot.example.com", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    site = (DEPLOY / "nginx" / "wallet-bot.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/bot.example.com/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/bot.example.com/privkey.pem", str(key))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n"
    )
    checked = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert "proxy_next_upstream error timeout http_502 non_idempotent" in site


def test_the_runner_script_parses_and_the_compose_file_names_every_service() -> None:
    subprocess.run(["bash", "-n", str(DEPLOY / "run-workers.sh")], check=True)
    compose = (DEPLOY / "docker-compose.yml").read_text()
    for service in ("  db:", "  bot:", "  dashboard:", "  nginx:"):
        assert f"\n{service}\n" in compose
    assert "replicas: 3" in compose and "/readyz" in (DEPLOY / "Dockerfile").read_text()
