"""Reply latency as customers feel it, on real processes of both frameworks, at 1 and at many
concurrent chats: /start, /offers, and /recharge to the receipt.

    .venv/bin/python tests/bench/conversation_latency.py [--chats 1,200] [--frameworks ptb,aiogram]

For each framework and each number of chats a real `python -m bot run` process in demo mode
(SQLite, polling, the sandbox payment and a sandbox carrier gateway that completes at once) runs
against the project's fake Bot API server. Each customer sends /start (sample: until the menu),
/offers (until the answer), binds a number, then /recharge → "50元" → "模拟支付" (sample: from
/recharge to the receipt, three inputs). Prints p50/p95 per step; a diagnostic, no target.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.flood_latency import percentile, start_bot, stop_bot  # noqa: E402
from tests.bench.receipt_latency import RECEIPT, button, press  # noqa: E402
from tests.fakes.bot_api import FakeBotApi, FakeUser  # noqa: E402

# The path measured is the recharge, not the first-run privacy consent nor the risk rules (a
# benchmark orders far faster than any customer may): both off unless the caller sets them.
os.environ.setdefault("PRIVACY_CONSENT_REQUIRED", "false")
os.environ.setdefault("RISK_RULES_ENABLED", "false")

NUMBER = "18612345678"


async def _say(api: FakeBotApi, user: FakeUser, text: str, count: int) -> float:
    mark = api.mark()
    started = time.perf_counter()
    api.send_text(user, text)
    await api.wait_for_message(user.id, count, after=mark, timeout=300)
    return time.perf_counter() - started


async def one_customer(api: FakeBotApi, user: FakeUser) -> dict[str, float]:
    samples = {"/start": await _say(api, user, "/start", 2)}
    samples["/offers"] = await _say(api, user, "/offers", 1)
    await _say(api, user, f"/bind {NUMBER}", 2)
    mark = api.mark()
    started = time.perf_counter()
    api.send_text(user, "/recharge")
    [grid] = await api.wait_for_message(user.id, 1, after=mark, timeout=300)
    confirmation = await press(api, user, grid, "50元")
    api.press_button(user, confirmation, button(confirmation, "模拟支付"))

    def received() -> bool:
        return any(m.get("text", "").startswith(RECEIPT) for m in api.messages_to(user.id))

    await api.wait_for(received, timeout=300, what="the receipt")
    samples["/recharge → receipt"] = time.perf_counter() - started
    return samples


async def measure(framework: str, chats: int) -> None:
    users = [
        FakeUser(id=9_300_000 + n, first_name=f"C{n}", language_code="zh-hans")
        for n in range(chats)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeBotApi() as api:
            process = await start_bot(api, framework, Path(tmp))
            try:
                results = await asyncio.gather(*(one_customer(api, user) for user in users))
            finally:
                await stop_bot(process)
    for step in results[0]:
        values = [r[step] for r in results]
        print(
            f"{framework:8} {chats:4} chats  {step:20} p50 {percentile(values, 0.5) * 1000:7.0f} ms"
            f"  p95 {percentile(values, 0.95) * 1000:7.0f} ms"
        )


async def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chats", default="1,200")
    parser.add_argument("--frameworks", default="ptb,aiogram")
    args = parser.parse_args()
    os.environ["SANDBOX_TOPUP_DELAY_SECONDS"] = "0"
    for framework in args.frameworks.split(","):
        for chats in (int(n) for n in args.chats.split(",")):
            await measure(framework, chats)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
