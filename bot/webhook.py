"""The webhook server both Telegram front ends listen on (WEBHOOK_URL, WEBHOOK_LISTEN).

A request is checked before its body is read: without the secret Telegram was given
(`X-Telegram-Bot-Api-Secret-Token`) it is refused with 403, and a body announced or found to be
larger than WEBHOOK_MAX_BODY_BYTES with 413, having read at most that much. A body that is not
a JSON update is the sender's mistake (400). Only then is the update handed to the front end,
and answered once handled: 200, or 503 when its chat's turn could not be had in time
(`ChatTurnBusy`), so that Telegram delivers it again. A refused update costs one log line (its
update id and why, never a traceback): the front end's own (`Refused`), or this server's.

The same server answers the load balancer's health checks (no secret needed, nothing private in
them): GET /healthz is 200 while the process runs; GET /readyz is 200 when the database answers,
is at this code's migration and the front end has started (`serving`), 503 otherwise, with the
checks as JSON.

The 200 may carry one Bot API call, which Telegram then makes itself (as the Bot API allows for
a webhook's answer): the answer to a pressed button (`answerCallbackQuery`), left there by the
update's turn (`leave_for_webhook_answer`), so a button press costs one request less to the Bot
API. Only a call whose result nobody reads goes there: Telegram reports nothing of it. A turn
that is still going when the request is answered makes its calls itself.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from domain.errors import ChatTurnBusy
from handlers.outage import detail

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

JSONDict = dict[str, Any]
# The front end's part: make the framework's update of the JSON (raising when it cannot) ...
Parse = Callable[[JSONDict], Any]
# ... and take it in; the request is answered once this returns.
Feed = Callable[[Any], Awaitable[object]]


@dataclass
class WebhookAnswer:
    """The one call the webhook's 200 may carry for the update being handled."""

    method: str | None = None
    params: JSONDict = field(default_factory=dict)
    # Set once the request is answered: a call left later would never be made.
    closed: bool = False

    def leave(self, method: str, params: JSONDict) -> bool:
        if self.closed or self.method is not None:
            return False
        self.method, self.params = method, params
        return True

    def body(self) -> JSONDict | None:
        self.closed = True
        return {"method": self.method, **self.params} if self.method is not None else None


_ANSWER: ContextVar[WebhookAnswer | None] = ContextVar("webhook_answer", default=None)


def leave_for_webhook_answer(method: str, params: JSONDict) -> bool:
    """Leave a call whose result nobody reads for the answer to the webhook request of the
    update this turn handles; False (make the call yourself) when the update did not come by
    webhook, the request was answered already, or a call is left there already."""
    answer = _ANSWER.get()
    return answer is not None and answer.leave(method, params)


# Whether the database answers, or is at this code's migration (for /readyz).
DatabaseCheck = Callable[[], Awaitable[bool]]


class Refused(ChatTurnBusy):
    """The front end refused the update (it is to be delivered again) and logged why."""


class WebhookServer:
    """An aiohttp server with one route, `path`, for Telegram's POSTs."""

    def __init__(
        self,
        path: str,
        secret: str,
        parse: Parse,
        feed: Feed,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        database_check: DatabaseCheck | None = None,
        migrations_check: DatabaseCheck | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the webhook needs a secret: every request must carry it")
        self._secret = secret.encode()
        self._parse = parse
        self._feed = feed
        self._max_body = max_body_bytes
        self.app = web.Application(client_max_size=max_body_bytes)
        self.app.router.add_post(path, self.handle)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/readyz", self.readyz)
        self._database_check = database_check
        self._migrations_check = migrations_check
        # Set by the front end once updates are taken in, cleared when it stops.
        self.serving = False
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()

    async def stop_listening(self) -> None:
        """Take no new connections (requests under way are still answered)."""
        self.serving = False
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def close(self) -> None:
        await self.stop_listening()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        checks = {"frontend": self.serving}
        if self._database_check is not None:
            checks["database"] = await self._database_check()
        if self._migrations_check is not None:
            # A database that does not answer is not asked again (its time-out once is enough).
            answered = checks.get("database", True)
            checks["migrations"] = answered and await self._migrations_check()
        ready = all(checks.values())
        return web.json_response(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status=200 if ready else 503,
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), self._secret):
            return _refused(403, "Forbidden")
        declared = request.content_length
        if declared is not None and declared > self._max_body:
            return _refused(413, "Request Entity Too Large")
        body = await self._read(request)
        if body is None:
            return _refused(413, "Request Entity Too Large")
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
            update = self._parse(data)
        except Exception as error:
            log.info("webhook: a request with the secret carried no update (%s)", type(error))
            return web.Response(status=400, text="Bad Request: not a Telegram update")
        answer = WebhookAnswer()
        token = _ANSWER.set(answer)
        try:
            await self._feed(update)
        except Refused as refused:
            log.debug("webhook: update %s answered 503 (%s)", data["update_id"], refused)
            return web.Response(status=503, text="Service Unavailable: try again")
        except ChatTurnBusy as busy:
            # Not handled now: Telegram delivers the update again after a non-2xx answer.
            log.warning("webhook: update %s answered 503 (%s)", data["update_id"], detail(busy))
            return web.Response(status=503, text="Service Unavailable: try again")
        finally:
            _ANSWER.reset(token)
            call = answer.body()
        if call is not None:
            return web.json_response(call)
        return web.Response(status=200)

    async def _read(self, request: web.Request) -> bytes | None:
        """The body, or None as soon as it grows beyond the limit."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > self._max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)


def _refused(status: int, text: str) -> web.Response:
    response = web.Response(status=status, text=text)
    # The rest of the body is never read: the connection closes with the answer.
    response.force_close()
    return response


__all__ = ["SECRET_HEADER", "Refused", "WebhookServer"]
