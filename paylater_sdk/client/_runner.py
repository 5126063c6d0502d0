"""Run an :data:`~._requester.Op` to completion: the loop both transports share.

A runner only performs effects; every decision (what to sign, whether to retry, whether a
key refresh is allowed) is the operation's or :class:`~._requester.Requester`'s. The
synchronous runner uses ``requests``; the asynchronous one (:mod:`._async`) awaits httpx.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from .._sessions import EnvironmentSession
from ._effects import HttpRequest, HttpResponse, HttpStream, NeedKeys, Op, Sleep, TransportFailure
from ._requester import Requester

T = TypeVar("T")
_CHUNK = 64 * 1024  # bytes per write of a streamed download


def drive(op: Op[T], perform: Callable[[Any], Any]) -> T:
    """Step ``op``: each effect is handed to ``perform``; its result (or the exception it
    raised) goes back into the operation, which decides what that means."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = op.throw(error) if error is not None else op.send(value)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            value = perform(effect)
        except Exception as exc:  # handed to the operation, which re-raises or wraps it
            error = exc


class SyncRunner:
    """Performs effects with a ``requests.Session`` and ``RetryPolicy.sleep``; thread-safe."""

    is_async = False

    def __init__(self, core: Requester, session: requests.Session | None) -> None:
        self.core = core
        self._owns_session = session is None
        # A session of our own reads the environment once (see paylater_sdk._sessions);
        # a caller's session is used exactly as given.
        self.session = session if session is not None else EnvironmentSession()
        self._keys_lock = threading.Lock()

    def run(self, op: Op[T]) -> T:
        return drive(op, self._perform)

    def _perform(self, effect: object) -> object:
        if isinstance(effect, HttpRequest | HttpStream):
            return self._send(effect)
        if isinstance(effect, Sleep):
            self.core.retry.sleep(effect.seconds)
            return None
        if isinstance(effect, NeedKeys):
            return self._keys(effect)
        raise TypeError(f"unknown effect {effect!r}")  # pragma: no cover

    def _keys(self, need: NeedKeys) -> object:
        with self._keys_lock:
            ring = self.core.plan_keys(need)
            if ring is not None:
                return ring
            return self.core.install_keys(self.run(self.core.fetch_keyring()))

    def _send(self, req: HttpRequest | HttpStream) -> HttpResponse | TransportFailure:
        try:
            if isinstance(req, HttpStream):
                return self._stream(req)
            resp = self.session.request(
                req.method,
                req.url,
                data=req.body or None,
                headers=dict(req.headers),
                timeout=req.timeout,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            return TransportFailure("tls", exc)
        except requests.Timeout as exc:
            return TransportFailure("timeout", exc)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            return TransportFailure("connection", exc)
        except requests.RequestException as exc:
            return TransportFailure("fatal", exc)
        return HttpResponse(resp.status_code, resp.headers, resp.content)

    def _stream(self, req: HttpStream) -> HttpResponse:
        with self.session.request(
            req.method,
            req.url,
            headers=dict(req.headers),
            timeout=req.timeout,
            allow_redirects=False,
            stream=True,
        ) as resp:
            if not 200 <= resp.status_code < 300:
                return HttpResponse(resp.status_code, resp.headers, resp.content)
            for chunk in resp.iter_content(_CHUNK):
                req.sink(chunk)
            return HttpResponse(resp.status_code, resp.headers, b"")

    def close(self) -> None:
        if self._owns_session:
            self.session.close()
