"""python-telegram-bot's Bot API requests on aiohttp's client.

PTB makes its HTTP calls through a `telegram.request.BaseRequest`, an interface meant to be
implemented on any asyncio HTTP library; its own is on httpx. Under load, httpx's connection
pool looks at every pooled connection on each request and on each release (whether the server
closed it: a `poll` and a `getpeername` per connection), and its locks ask which async library
runs them at each step: a load-test profile of a PTB worker found 28 % of its CPU under httpx,
httpcore and anyio, against 12 % for aiogram's aiohttp client making the same calls
(`tests/bench/load_test.py`, README "Scaling out"). This is the same interface on aiohttp's
client, which the aiogram front end, the webhook server and the dashboard use already.

The requests on the wire are what PTB's own sends: the parameters url-encoded
(`RequestData.json_parameters`), files as multipart form data, proxies taken from the
environment as httpx takes them. PTB's timeouts map to aiohttp's: `connect_timeout` to the
socket's connect, `pool_timeout` plus that to waiting for a pooled connection and connecting,
`read_timeout` to each read; aiohttp has no timeout of its own for writing, so the whole request
is bounded by the four together (the write's being PTB's default, 5 s, or 20 s with files). A
timeout is PTB's `TimedOut`, any other client failure its `NetworkError`, as PTB's own request
raises them.
"""

from __future__ import annotations

from typing import IO

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# PTB's own defaults (HTTPXRequest): 5 s for each step (20 s to write a request with files,
# 1 s to wait for a pooled connection), one pool of up to 256 connections.
DEFAULT_TIMEOUT_SECONDS = 5.0
MEDIA_WRITE_TIMEOUT_SECONDS = 20.0
DEFAULT_POOL_TIMEOUT_SECONDS = 1.0
DEFAULT_POOL_SIZE = 256

# A request's files, as PTB gives them (`RequestData.multipart_data`): part name to file name,
# content and media type.
Files = dict[str, tuple[str, bytes | IO[bytes], str]]


class AiohttpRequest(BaseRequest):
    """PTB's `BaseRequest` on one `aiohttp.ClientSession`, made in `initialize` or on the
    first request, whichever comes first."""

    def __init__(
        self,
        connection_pool_size: int = DEFAULT_POOL_SIZE,
        *,
        read_timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
        write_timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
        connect_timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
        pool_timeout: float | None = DEFAULT_POOL_TIMEOUT_SECONDS,
        media_write_timeout: float | None = MEDIA_WRITE_TIMEOUT_SECONDS,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._shut = False

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        self._shut = False
        self._open()

    async def shutdown(self) -> None:
        self._shut = True
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _open(self) -> aiohttp.ClientSession:
        """The session, made on first use as PTB's own request has its client from the start
        (a bot that was never initialised still sends); none after `shutdown` until
        `initialize` again, as PTB's own request."""
        if self._shut:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}, trust_env=True
            )
        return self._session

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        write_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._open()
        files = request_data.multipart_data if request_data is not None else {}
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, self._media_write_timeout if files else self._write_timeout)
        steps = (connect, pool, write, read)
        timeout = aiohttp.ClientTimeout(
            total=None if None in steps else sum(t for t in steps if t is not None),
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with session.request(
                method, url, data=_body(request_data, files), timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{error.__class__.__name__}: {error}") from error


def _given(value: float | object | None, default: float | None) -> float | None:
    """A timeout PTB passed, or this request's own when it passed its default marker."""
    if isinstance(value, (int, float)) or value is None:
        return value
    return default


def _body(
    request_data: RequestData | None, files: Files
) -> aiohttp.FormData | dict[str, str] | None:
    """The parameters url-encoded, or with the request's `files` as multipart form data."""
    if request_data is None:
        return None
    if not files:
        return request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form
