"""A fake carrier top-up gateway, owned by the project, for tests of the HTTP client over HTTP.

It speaks the protocol of ``domain.integrations.http_gateway``:

- ``POST /topups`` with a JSON body ``{order_id, phone, carrier, product_kind, amount_fen,
  currency}`` and, for a bundle, ``bundle_product`` (the data pack topped up with the credit;
  kept in the stored top-up's ``body``), ``Idempotency-Key: <order number>`` and
  ``Authorization: Bearer <api key>``;
- ``GET /topups/{order number}`` (404 when the gateway knows no such top-up);
- both answer ``{"status": "completed" | "pending" | "failed", "reference", "reason"}``; a wrong
  or missing key is ``401 {"error": "unauthorized"}``.

Top-ups are stored by idempotency key: a repeated POST (also a concurrent one) answers the same
top-up and never tops up again; a repeated key with a different body is ``422``. Each real top-up
(a top-up reaching "completed") is counted per order in ``topped_up``.

Quick start::

    async with FakeCarrierGateway(api_key="k") as gateway:
        client = HttpTopUpGateway(GatewaySettings(gateway.base_url, "k", timeout_seconds=0.2))
        gateway.stay_pending(2)           # new top-ups: 2 status checks "pending", then completed
        gateway.fail_next(2, status=503)  # the next 2 requests are answered 503
        ...
        assert gateway.topped_up[order.number] == 1

How new top-ups end is set with ``complete_at_once()``, ``stay_pending(checks)`` and
``fail_with(reason)`` (it is decided when the top-up is first submitted). Faults apply to the
next requests in order, one fault per request, whatever the request: ``fail_next`` (an HTTP
status, nothing processed), ``slow_next`` (processed, then answered late), ``drop_next`` (the
connection is closed without an answer, before or after processing), ``garbage_next`` (a 200
whose body is not the protocol's JSON, nothing processed), ``forget_next_submits`` (a POST is
answered "pending" but lost, so a later GET is 404 and the client must submit again).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

__all__ = [
    "Drop",
    "FakeCarrierGateway",
    "Garbage",
    "Seen",
    "Slow",
    "Status",
    "TopUp",
]

REQUIRED_FIELDS = ("order_id", "phone", "carrier", "product_kind", "amount_fen", "currency")


@dataclass(frozen=True)
class Status:
    """Answer with this HTTP status and a small JSON error body; nothing is processed."""

    status: int = 503


@dataclass(frozen=True)
class Slow:
    """Process the request, then wait `seconds` before answering (longer than the client's
    time-out: the top-up happens, but the client never hears of it)."""

    seconds: float = 1.0


@dataclass(frozen=True)
class Drop:
    """Close the connection without any answer, before or after processing the request."""

    after_processing: bool = False


@dataclass(frozen=True)
class Garbage:
    """Answer 200 with a body that is not the protocol's JSON; nothing is processed."""

    body: bytes = b"<html><body>Bad Gateway</body></html>"
    content_type: str = "text/html"


Fault = Status | Slow | Drop | Garbage


@dataclass
class TopUp:
    """One top-up as the gateway stores it, keyed by its idempotency key."""

    key: str
    body: dict[str, Any]
    reference: str
    status: str = "pending"  # "pending" | "completed" | "failed"
    reason: str | None = None
    checks_left: int = 0  # status checks still answered "pending" before it completes

    def answer(self, numeric_reference: bool = False) -> dict[str, Any]:
        reference = int(self.reference.removeprefix("gw-")) if numeric_reference else self.reference
        return {"status": self.status, "reference": reference, "reason": self.reason}


@dataclass(frozen=True)
class Seen:
    """A request as the gateway received it, and how it was answered."""

    method: str
    path: str
    key: str | None
    at: float  # time.monotonic()
    answer: str  # an HTTP status as text, or "slow", "dropped"


@dataclass
class _Outcome:
    checks: int = 0  # status checks answered "pending" before completing
    reason: str | None = None  # fail with this reason instead


@dataclass
class FakeCarrierGateway:
    api_key: str = "test-api-key"
    # Answer references as JSON numbers (some gateways number their top-ups), not strings.
    numeric_references: bool = False
    # State (read by tests).
    topups: dict[str, TopUp] = field(default_factory=dict)
    topped_up: Counter[str] = field(default_factory=Counter)  # real top-ups per order number
    submits: Counter[str] = field(default_factory=Counter)  # POSTs per idempotency key
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._outcome = _Outcome()
        self._faults: deque[Fault] = deque()
        self._forget = 0
        self._references = itertools.count(1)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        if self._runner is not None:
            raise RuntimeError("FakeCarrierGateway is already started")
        self._closing.clear()
        app = web.Application()
        app.router.add_post("/topups", self._submit)
        app.router.add_get("/topups/{order_number}", self._status)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving; slow answers still waiting give up at once."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._port = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; the client calls ``{base_url}/topups``."""
        if self._port is None:
            raise RuntimeError("FakeCarrierGateway is not started")
        return f"http://127.0.0.1:{self._port}"

    # --------------------------------------------------------------------------------- steering

    def complete_at_once(self) -> None:
        """New top-ups complete when submitted (the default)."""
        self._outcome = _Outcome()

    def stay_pending(self, checks: int) -> None:
        """New top-ups answer "pending" to the submit and `checks` status checks, then complete."""
        self._outcome = _Outcome(checks=checks)

    def fail_with(self, reason: str) -> None:
        """New top-ups fail with `reason`."""
        self._outcome = _Outcome(reason=reason)

    def fail_next(self, count: int, status: int = 503) -> None:
        self._faults.extend(Status(status) for _ in range(count))

    def slow_next(self, count: int, seconds: float = 1.0) -> None:
        self._faults.extend(Slow(seconds) for _ in range(count))

    def drop_next(self, count: int, *, after_processing: bool = False) -> None:
        self._faults.extend(Drop(after_processing) for _ in range(count))

    def garbage_next(
        self, count: int, body: bytes = Garbage.body, content_type: str = Garbage.content_type
    ) -> None:
        self._faults.extend(Garbage(body, content_type) for _ in range(count))

    def forget_next_submits(self, count: int) -> None:
        """The next `count` new submits are answered "pending" but lost: never topped up."""
        self._forget += count

    def recover(self) -> None:
        """Drop every fault still queued: the gateway answers normally again."""
        self._faults.clear()
        self._forget = 0

    # ------------------------------------------------------------------------------ observation

    def seen(self, method: str | None = None) -> list[Seen]:
        return [s for s in self.requests if method is None or s.method == method]

    # --------------------------------------------------------------------------------- handlers

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        fault = self._faults.popleft() if self._faults else None
        early = await self._early_answer(request, key, fault)
        if early is not None:
            return early
        try:
            body = await request.json()
        except ValueError:
            return self._answer(request, key, _error(400, "body is not JSON"))
        if not isinstance(body, dict) or any(name not in body for name in REQUIRED_FIELDS):
            return self._answer(request, key, _error(400, "missing fields"))
        if not key or key != body["order_id"]:
            return self._answer(request, key, _error(400, "Idempotency-Key must be the order_id"))
        self.submits[key] += 1
        topup = self.topups.get(key)
        if topup is None:
            topup = self._new_topup(key, body)
        elif topup.body != body:
            return self._answer(request, key, _error(422, "Idempotency-Key reused"))
        return await self._late_answer(request, key, fault, topup.answer(self.numeric_references))

    async def _status(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["order_number"]
        fault = self._faults.popleft() if self._faults else None
        early = await self._early_answer(request, key, fault)
        if early is not None:
            return early
        topup = self.topups.get(key)
        if topup is None:
            return self._answer(request, key, _error(404, "no such top-up"))
        if topup.status == "pending":
            if topup.checks_left > 0:
                topup.checks_left -= 1
            else:
                self._complete(topup)
        return await self._late_answer(request, key, fault, topup.answer(self.numeric_references))

    def _new_topup(self, key: str, body: dict[str, Any]) -> TopUp:
        topup = TopUp(key, body, f"gw-{next(self._references):06d}")
        if self._forget > 0:
            self._forget -= 1  # answered, but lost: the next GET is a 404
            return topup
        self.topups[key] = topup
        if self._outcome.reason is not None:
            topup.status, topup.reason = "failed", self._outcome.reason
        elif self._outcome.checks > 0:
            topup.checks_left = self._outcome.checks
        else:
            self._complete(topup)
        return topup

    def _complete(self, topup: TopUp) -> None:
        topup.status = "completed"
        self.topped_up[topup.key] += 1

    async def _early_answer(
        self, request: web.Request, key: str | None, fault: Fault | None
    ) -> web.StreamResponse | None:
        """Authentication, and the faults that answer before anything is processed."""
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._answer(
                request, key, web.json_response({"error": "unauthorized"}, status=401)
            )
        if isinstance(fault, Status):
            return self._answer(request, key, _error(fault.status, "injected"))
        if isinstance(fault, Garbage):
            response = web.Response(body=fault.body, content_type=fault.content_type)
            return self._answer(request, key, response)
        if isinstance(fault, Drop) and not fault.after_processing:
            return await self._drop(request, key)
        return None

    async def _late_answer(
        self, request: web.Request, key: str | None, fault: Fault | None, answer: dict[str, Any]
    ) -> web.StreamResponse:
        """The answer to a processed request, unless a fault loses it."""
        if isinstance(fault, Drop):
            return await self._drop(request, key)
        if isinstance(fault, Slow):
            self._log(request, key, "slow")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.seconds)
            return web.json_response(answer)
        return self._answer(request, key, web.json_response(answer))

    async def _drop(self, request: web.Request, key: str | None) -> web.StreamResponse:
        self._log(request, key, "dropped")
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # nothing is written to a closed connection

    def _answer(
        self, request: web.Request, key: str | None, response: web.Response
    ) -> web.Response:
        self._log(request, key, str(response.status))
        return response

    def _log(self, request: web.Request, key: str | None, answer: str) -> None:
        self.requests.append(Seen(request.method, request.path, key, time.monotonic(), answer))


def _error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps({"error": message}), content_type="application/json"
    )
