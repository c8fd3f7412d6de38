"""A python-telegram-bot transport that answers every Bot API call in-process, no network."""

from __future__ import annotations

import json
from typing import Any

from telegram.request import BaseRequest, RequestData


class LocalRequest(BaseRequest):
    """Answers each call with what `answer` returns, as Telegram's JSON would carry it."""

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float | None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        result = self.answer(url.rsplit("/", 1)[-1], request_data)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def answer(self, endpoint: str, request_data: RequestData | None) -> object:
        raise NotImplementedError
