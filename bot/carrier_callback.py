"""The carrier gateway's callback: the gateway says how a top-up ended as soon as it knows, so
the customer's receipt does not wait for the bot to ask (the bot still asks, on a backoff, in
case a callback never comes).

The protocol, beside the one in `domain/integrations/http_gateway.py`:
- POST {GATEWAY_CALLBACK_LISTEN}/carrier/topups with the JSON of a status answer and the order:
  {"order_id": "<order number>", "status": "completed" | "failed" | "pending", "reference",
  "reason"};
- header `X-Signature: sha256=<hex HMAC-SHA256 of the exact body with GATEWAY_CALLBACK_SECRET>`;
- answers: 200 {"status": <the order's status now>} (a replay too: it changes nothing twice),
  400 for a body that is not such JSON, 401 without a valid signature, 404 for an order the bot
  does not know, 413 for a body over 16 KiB.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from aiohttp import web

from domain.ports import TopUpResult, TopUpState
from domain.services.fulfilment import FulfilmentService

log = logging.getLogger(__name__)

PATH = "/carrier/topups"
MAX_BODY_BYTES = 16 * 1024
SIGNATURE_HEADER = "X-Signature"


def signature(secret: str, body: bytes) -> str:
    """The value of the signature header for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def callback_app(fulfilment: FulfilmentService, secret: str) -> web.Application:
    """The web application that takes the carrier's callbacks."""

    async def reported(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.json_response({"error": "too large"}, status=413)
        body = await request.read()
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(given.encode(), signature(secret, body).encode()):
            log.warning("a carrier callback without a valid signature was refused")
            return web.json_response({"error": "signature"}, status=401)
        try:
            report = json.loads(body)
            number = report["order_id"]
            result = TopUpResult(
                TopUpState(report["status"]),
                _text(report.get("reference")),
                _text(report.get("reason")),
            )
            if not isinstance(number, str):
                raise TypeError(number)
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "malformed"}, status=400)
        order = await fulfilment.carrier_reported(number, result)
        if order is None:
            return web.json_response({"error": "unknown order"}, status=404)
        return web.json_response({"status": order.status.value})

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post(PATH, reported)
    return app


async def start_carrier_callback(
    fulfilment: FulfilmentService, secret: str, host: str, port: int
) -> web.AppRunner:
    """Serve the callback at host:port until the runner is cleaned up."""
    runner = web.AppRunner(callback_app(fulfilment, secret), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("taking the carrier's callbacks at %s:%s%s", host, port, PATH)
    return runner


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:64]
