"""Deliver the mock issuer's notifications into the merchant's app, whatever its framework.

``MockIssuer(notify_app=...)`` takes a WSGI app (Flask, Django's ``WSGIHandler``, any
``app(environ, start_response)``), an ASGI app (FastAPI, Starlette, Django's
``ASGIHandler``: an ``async`` callable), a Flask test client, or a plain callable
``handler(headers, body) -> status``. The body always travels as bytes (``data=`` to
werkzeug, ``content=`` to httpx: no deprecated form).

An exception in the merchant's handler must fail the test, not become a quiet 500 the
issuer retries: exceptions a framework turns into a 500 are caught through its own
signal (Flask's and Django's ``got_request_exception``), the others propagate; either
way :meth:`NotifyTarget.deliver` raises :class:`HandlerError` carrying the original.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import attrs
from flask import Flask, got_request_exception
from flask.testing import FlaskClient
from werkzeug.test import Client

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..client import Event

T = TypeVar("T")


@attrs.frozen
class DeliveredNotification:
    """One delivery attempt the issuer made to a ``notify_url``.

    ``event`` is the verified, decrypted :class:`~paylater_sdk.client.Event` (None if it did
    not verify, which only happens when a test tampers with keys); ``status`` is what the
    receiving app answered (204 when no app is attached: the list acknowledges).
    """

    url: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    event: Event | None
    status: int


class HandlerError(Exception):
    """Internal: the merchant's handler raised ``original`` while handling a delivery."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


def _is_asgi(app: object) -> bool:
    call = getattr(app, "__call__", None)  # noqa: B004 - the bound __call__ of an instance
    return inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(call)


def _is_wsgi(app: object) -> bool:
    if isinstance(app, Flask):
        return True
    try:
        params = list(inspect.signature(app).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return params[:2] == ["environ", "start_response"]


def run_coroutine(factory: Callable[[], Awaitable[T]]) -> T:
    """Run an ASGI call from synchronous code, on the test's event loop if there is one.

    In a worker thread of a running loop (``await issuer.adeliver_pending()``) it runs on
    that loop; with no loop in this thread, on a fresh one; when a loop is running in this
    very thread (a sync call inside an async test), on a fresh loop in a helper thread.
    """

    async def call() -> T:
        return await factory()

    try:
        import anyio.from_thread

        return anyio.from_thread.run(call)
    except (RuntimeError, ImportError):
        pass  # not in an anyio worker thread
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(call())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, call()).result()


@contextlib.contextmanager
def _framework_errors(app: object) -> Iterator[list[BaseException]]:
    """Collect exceptions that Flask or Django turn into a 500 during one delivery."""
    caught: list[BaseException] = []

    def on_flask(sender: object, exception: BaseException, **extra: object) -> None:
        caught.append(exception)

    def on_django(sender: object, **extra: object) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            caught.append(error)

    django_signal: Any = None
    if "django.core.signals" in sys.modules:
        django_signal = sys.modules["django.core.signals"].got_request_exception
        django_signal.connect(on_django, weak=False)
    flask_app = app.application if isinstance(app, FlaskClient) else app
    with contextlib.ExitStack() as stack:
        if isinstance(flask_app, Flask):
            got_request_exception.connect(on_flask, flask_app, weak=False)
            stack.callback(got_request_exception.disconnect, on_flask, flask_app)
        if django_signal is not None:
            stack.callback(django_signal.disconnect, on_django)
        yield caught


class NotifyTarget:
    """One merchant app, called the way its kind expects."""

    def __init__(self, app: object) -> None:
        self.app = app
        if isinstance(app, FlaskClient):
            self.kind = "flask-client"
        elif _is_asgi(app):
            self.kind = "asgi"
        elif _is_wsgi(app):
            self.kind = "wsgi"
        elif callable(app):
            self.kind = "callable"
        else:
            raise ConfigurationError(
                "notify_app must be a WSGI app, an ASGI app, a Flask test client or a "
                f"callable (headers, body) -> status, not {type(app).__name__}"
            )

    def deliver(self, url: str, headers: Mapping[str, str], body: bytes) -> int:
        """POST ``body`` to ``url``'s path in the app; the status it answered."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        with _framework_errors(self.app) as caught:
            try:
                status = self._call(url, path, dict(headers), body)
            except Exception as exc:
                raise HandlerError(exc) from exc
        if caught:
            raise HandlerError(caught[0]) from caught[0]
        return status

    def _call(self, url: str, path: str, headers: dict[str, str], body: bytes) -> int:
        parts = urlsplit(url)
        base_url = f"{parts.scheme}://{parts.netloc}"  # the Host the app sees (ALLOWED_HOSTS)
        if self.kind == "flask-client":
            client: Any = self.app
            answer = client.post(path, data=body, headers=headers, base_url=base_url)
            return int(answer.status_code)
        if self.kind == "wsgi":
            app: Any = self.app
            http = app.test_client() if isinstance(app, Flask) else Client(app)
            answer = http.post(path, data=body, headers=headers, base_url=base_url)
            return int(answer.status_code)
        if self.kind == "asgi":
            return run_coroutine(lambda: self._asgi(url, path, headers, body))
        handler: Any = self.app
        status = handler(headers, body)
        if isinstance(status, bool) or not isinstance(status, int):
            raise ConfigurationError(
                f"the notify handler must return an HTTP status (int), not {status!r}"
            )
        return status

    async def _asgi(self, url: str, path: str, headers: dict[str, str], body: bytes) -> int:
        import httpx

        parts = urlsplit(url)
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=True)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url=f"{parts.scheme}://{parts.netloc}"
        ) as client:
            resp = await client.post(path, content=body, headers=headers)
        return resp.status_code
