"""The wire between the SDK's clients and the in-process issuer app, with its faults.

``requests`` calls arrive through a ``responses`` callback, httpx calls through an
``httpx.MockTransport`` handler; both hand the request to :meth:`Wire.serve`, which applies
the client-side faults (the ones that happen on the wire, not in the issuer) and calls the
Flask app. The httpx handler runs the app in a worker thread, so an async test's event loop
keeps running while the issuer works.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import attrs
import requests
from flask import Flask

from ..errors import ConfigurationError
from ..issuer.domain.faults import fault_matches

if TYPE_CHECKING:
    import httpx

#: Faults that happen on the wire between the client and the issuer.
CLIENT_FAULTS = frozenset({"connection_drop_after_commit", "timeout", "connection_error"})


@attrs.define
class _WireFault:
    kind: str
    method: str | None
    path_prefix: str | None
    remaining: int

    def matches(self, method: str, path: str) -> bool:
        return fault_matches(self.method, self.path_prefix, method, path)


class Wire:
    """Routes the clients' HTTP into ``app``, failing requests as faults say."""

    def __init__(self, app: Flask, base_url: str) -> None:
        self.app = app
        self.base_url = base_url
        self._faults: list[_WireFault] = []
        self._lock = threading.Lock()

    def add_fault(
        self, kind: str, *, method: str | None, path_prefix: str | None, count: int
    ) -> None:
        """Make the next ``count`` matching requests fail with ``kind`` on the wire."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigurationError("count must be a positive integer")
        with self._lock:
            self._faults.append(
                _WireFault(kind, method.upper() if method else None, path_prefix, count)
            )

    def _take(self, method: str, path: str) -> str | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    kind = fault.kind
                    self._faults = [f for f in self._faults if f.remaining > 0]
                    return kind
        return None

    def serve(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[str | None, tuple[int, dict[str, str], bytes] | None]:
        """Hand one request to the app: ``(wire fault, (status, headers, body))``.

        The answer is None for ``connection_error`` (the request never arrived); the
        caller raises its transport's exception for the fault.
        """
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        fault = self._take(method, parts.path)
        if fault == "connection_error":
            return fault, None
        skip = {"content-length", "host", "transfer-encoding"}
        answer = self.app.test_client().open(
            target,
            method=method,
            data=body,
            headers={k: v for k, v in headers.items() if k.lower() not in skip},
            base_url=self.base_url,
            environ_overrides={"REQUEST_URI": target},
        )
        out = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return fault, (answer.status_code, out, answer.get_data())

    def requests_callback(
        self, request: requests.PreparedRequest
    ) -> tuple[int, dict[str, str], bytes]:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        url = request.url or ""
        fault, answer = self.serve((request.method or "GET").upper(), url, request.headers, body)
        if answer is None:
            raise requests.ConnectionError(f"injected fault: connection refused ({url})")
        if fault == "connection_drop_after_commit":
            raise requests.ConnectionError(
                f"injected fault: the connection dropped after the issuer handled {url}"
            )
        if fault == "timeout":
            raise requests.ReadTimeout(f"injected fault: {url} timed out")
        return answer

    async def httpx_handler(self, request: httpx.Request) -> httpx.Response:
        import anyio.to_thread
        import httpx

        url = str(request.url)
        fault, answer = await anyio.to_thread.run_sync(
            self.serve, request.method.upper(), url, request.headers, request.content
        )
        if answer is None:
            raise httpx.ConnectError(f"injected fault: connection refused ({url})", request=request)
        if fault == "connection_drop_after_commit":
            raise httpx.RemoteProtocolError(
                f"injected fault: the connection dropped after the issuer handled {url}",
                request=request,
            )
        if fault == "timeout":
            raise httpx.ReadTimeout(f"injected fault: {url} timed out", request=request)
        status, headers, content = answer
        return httpx.Response(status, headers=headers, content=content, request=request)
