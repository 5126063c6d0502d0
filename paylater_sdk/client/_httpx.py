"""The asynchronous runner: the same operations as :mod:`._runner`, awaited through httpx.

Every effect is awaited, so nothing blocks the event loop: requests go through an
``httpx.AsyncClient``, backoff through ``anyio.sleep`` (asyncio or trio), and a key
refresh runs under an ``anyio.Lock`` so concurrent tasks wait for one fetch instead of
each making their own. Imported only when an ``AsyncPayLaterClient`` is built, so the
synchronous client needs no httpx.
"""

from __future__ import annotations

import inspect
import ssl
import time
from typing import Any, TypeVar

import anyio
import httpx

from ._effects import HttpRequest, HttpResponse, HttpStream, NeedKeys, Op, Sleep, TransportFailure
from ._requester import Requester

T = TypeVar("T")


def _is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):  # httpx wraps the ssl error of the connection attempt
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class AsyncRunner:
    """Performs effects with an ``httpx.AsyncClient``; safe for concurrent tasks."""

    is_async = True

    def __init__(self, core: Requester, session: httpx.AsyncClient | None) -> None:
        self.core = core
        self._owns_session = session is None
        self.session = session if session is not None else httpx.AsyncClient()
        self._keys_lock = anyio.Lock()

    async def run(self, op: Op[T]) -> T:
        """Step ``op`` like :func:`._runner.drive`, awaiting each effect."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            try:
                value = await self._perform(effect)
            except Exception as exc:  # handed to the operation, which re-raises or wraps it
                error = exc

    async def _perform(self, effect: object) -> object:
        if isinstance(effect, HttpRequest | HttpStream):
            return await self._send(effect)
        if isinstance(effect, Sleep):
            await self._sleep(effect.seconds)
            return None
        if isinstance(effect, NeedKeys):
            return await self._keys(effect)
        raise TypeError(f"unknown effect {effect!r}")  # pragma: no cover

    async def _sleep(self, seconds: float) -> None:
        sleep = self.core.retry.sleep
        if sleep is time.sleep:  # the default: never block the loop
            await anyio.sleep(seconds)
            return
        result: object = sleep(seconds)  # a test's recorder, or an async sleep of yours
        if inspect.isawaitable(result):
            await result

    async def _keys(self, need: NeedKeys) -> object:
        async with self._keys_lock:
            ring = self.core.plan_keys(need)
            if ring is not None:
                return ring
            return self.core.install_keys(await self.run(self.core.fetch_keyring()))

    async def _send(self, req: HttpRequest | HttpStream) -> HttpResponse | TransportFailure:
        connect, read = req.timeout
        try:
            if isinstance(req, HttpStream):
                return await self._stream(req)
            resp = await self.session.request(
                req.method,
                req.url,
                content=req.body or None,
                headers=dict(req.headers),
                timeout=httpx.Timeout(read, connect=connect),
                follow_redirects=False,
            )
        except httpx.TimeoutException as exc:
            return TransportFailure("timeout", exc)
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            return TransportFailure("fatal", exc)
        except httpx.TransportError as exc:
            return TransportFailure("tls" if _is_tls(exc) else "connection", exc)
        except httpx.HTTPError as exc:
            return TransportFailure("fatal", exc)
        return HttpResponse(resp.status_code, resp.headers, resp.content)

    async def _stream(self, req: HttpStream) -> HttpResponse:
        """A 2xx body to the sink as it arrives (its writes are short, local and sync)."""
        connect, read = req.timeout
        async with self.session.stream(
            req.method,
            req.url,
            headers=dict(req.headers),
            timeout=httpx.Timeout(read, connect=connect),
            follow_redirects=False,
        ) as resp:
            if not 200 <= resp.status_code < 300:
                await resp.aread()
                return HttpResponse(resp.status_code, resp.headers, resp.content)
            async for chunk in resp.aiter_bytes():
                req.sink(chunk)
            return HttpResponse(resp.status_code, resp.headers, b"")

    async def close(self) -> None:
        if self._owns_session:
            await self.session.aclose()
