"""HTTP client of a carrier top-up gateway.

The order number is the idempotency key: submitting the same order twice tops up once. A time-out,
a connection error or a 5xx is retried with backoff; when no definite answer comes, the result is
PENDING and the order is asked about again later (an unknown outcome is never a failure).

The gateway's protocol:
- POST {base}/topups with JSON {order_id, phone, carrier, product_kind, amount_fen, currency}
  (and bundle_product, the code of a data pack bought together with call credit) and headers
  `Idempotency-Key: <order number>` and `Authorization: Bearer <api key>`;
- GET {base}/topups/{order number};
- both answer JSON {"status": "completed" | "pending" | "failed", "reference", "reason"}.

Only a submit can be refused (a 4xx: the top-up was not made, so it failed). A status check that
gets no readable state (a 4xx, a garbage answer) is PENDING: the top-up may well have been made.
408, 409 (the same key still being processed), 425 and 429 are transient, retried like a 5xx.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx

from domain.orders import Order
from domain.ports import TopUpResult, TopUpState

log = logging.getLogger(__name__)

UNKNOWN_TO_GATEWAY = "unknown_to_gateway"
# Answers that say "not now" rather than anything about the top-up: asked again like a 5xx.
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class GatewaySettings:
    base_url: str
    api_key: str
    timeout_seconds: float = 5.0
    attempts: int = 3
    backoff_seconds: float = 0.5


class HttpTopUpGateway:
    def __init__(
        self, settings: GatewaySettings, transport: httpx.AsyncBaseTransport | None = None
    ):
        self._settings = settings
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            timeout=settings.timeout_seconds,
            headers={"Authorization": f"Bearer {settings.api_key}"},
            transport=transport,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def submit(self, order: Order) -> TopUpResult:
        body = {
            "order_id": order.number,
            "phone": order.phone_digits,
            "carrier": order.carrier.value if order.carrier else None,
            "product_kind": order.product_kind.value if order.product_kind else None,
            "amount_fen": order.amount.fen,
            "currency": order.amount.currency,
        }
        if order.bundle is not None:  # the data pack is topped up with the credit, at once
            body["bundle_product"] = order.bundle.code
        return await self._call(
            "POST", "/topups", order, json=body, headers={"Idempotency-Key": order.number}
        )

    async def status(self, order: Order) -> TopUpResult:
        result = await self._call("GET", f"/topups/{order.number}", order)
        if result.reason == UNKNOWN_TO_GATEWAY:
            return await self.submit(order)  # the submit never arrived; it is idempotent
        return result

    async def _call(self, method: str, path: str, order: Order, **kwargs: object) -> TopUpResult:
        delay = self._settings.backoff_seconds
        for attempt in range(1, self._settings.attempts + 1):
            try:
                response = await self._client.request(method, path, **kwargs)  # type: ignore[arg-type]
            except httpx.HTTPError as error:
                log.warning("gateway %s %s attempt %d: %r", method, path, attempt, error)
            else:
                if response.status_code < 500 and response.status_code not in TRANSIENT_STATUSES:
                    return _result(response, submitted=method == "POST")
                log.warning(
                    "gateway %s %s attempt %d: %d", method, path, attempt, response.status_code
                )
            if attempt < self._settings.attempts:
                await asyncio.sleep(delay)
                delay *= 2
        return TopUpResult(TopUpState.PENDING)


def _result(response: httpx.Response, *, submitted: bool) -> TopUpResult:
    if response.status_code == 404:
        # Not known to the gateway (a submit that never arrived): ask again later, resubmitting.
        return TopUpResult(TopUpState.PENDING, reason=UNKNOWN_TO_GATEWAY)
    if not response.is_success and not submitted:
        # A status check refused (e.g. 401): that says nothing about the top-up itself.
        return TopUpResult(TopUpState.PENDING, reason=f"http_{response.status_code}")
    try:
        body = response.json()
        state = TopUpState(body["status"])
    except (ValueError, KeyError, TypeError):
        if response.is_success:
            return TopUpResult(TopUpState.PENDING, reason="unreadable_answer")
        return TopUpResult(TopUpState.FAILED, reason=f"http_{response.status_code}")
    return TopUpResult(state, _text(body.get("reference")), _text(body.get("reason")))


def _text(value: object) -> str | None:
    """A reference or reason as text, whatever JSON type the gateway used (e.g. a number)."""
    return None if value is None else str(value)
