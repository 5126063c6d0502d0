"""The notify hook caps the body before reading it (64 KiB), declared or chunked.

The hook is unauthenticated until the signature is checked: without the cap a 300 MB POST
was read into memory. A WSGI input stream that counts what is read proves the shop reads
at most one byte past the cap, and nothing at all when the declared length is too big.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.test import EnvironBuilder

from examples.merchant_flask import create_app
from examples.merchant_flask.payments import NOTIFY_MAX_BYTES
from tests._support.shop_server import ShopServer

HUGE = 300 * 1024 * 1024


@pytest.fixture
def shop(mock_issuer: Any, tmp_path: Any) -> Iterator[Any]:
    client = mock_issuer.client()
    app = create_app(
        {
            "SECRET_KEY": "test-secret-key-0123456789",
            "ADMIN_PASSWORD": "admin-password",
            "PAYLATER_CLIENT": client,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        }
    )
    yield app
    client.close()
    app.extensions["shop"]["engine"].dispose()


class CountingStream(io.RawIOBase):
    """An endless (or ``size``-long) stream of b"{" that counts the bytes handed out."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = len(buffer) if self.size is None else min(len(buffer), self.size - self.read_bytes)
        buffer[:left] = b"{" * left
        self.read_bytes += left
        return left


def _call(app: Any, stream: CountingStream, headers: dict[str, str]) -> tuple[int, bytes]:
    environ = EnvironBuilder(path="/pay/notify", method="POST", headers=headers).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    for key, value in headers.items():
        if key.lower() == "content-length":
            environ["CONTENT_LENGTH"] = value
    environ["wsgi.input"] = stream
    if "CONTENT_LENGTH" not in environ:
        environ["wsgi.input_terminated"] = True  # what waitress sets for a chunked body
    status: list[str] = []

    def start_response(line: str, _headers: Any, _exc: Any = None) -> None:
        status.append(line)

    chunks: Iterator[bytes] = iter(app(environ, start_response))
    body = b"".join(chunks)
    return int(status[0].split()[0]), body


def test_declared_huge_body_is_refused_without_reading(shop: Any) -> None:
    stream = CountingStream()
    status, body = _call(shop, stream, {"Content-Length": str(HUGE)})
    assert (status, body) == (413, b"notification too large")
    assert stream.read_bytes == 0


def test_chunked_huge_body_is_read_only_to_the_cap(shop: Any) -> None:
    stream = CountingStream()  # no Content-Length and no end: a chunked upload
    status, _ = _call(shop, stream, {"Transfer-Encoding": "chunked"})
    assert status == 413
    assert stream.read_bytes == NOTIFY_MAX_BYTES + 1


def test_lying_content_length_reads_only_what_it_declared(shop: Any) -> None:
    stream = CountingStream()
    status, _ = _call(shop, stream, {"Content-Length": "1000"})
    assert status == 401  # read 1000 bytes, which are not a signed notification
    assert stream.read_bytes == 1000


def test_a_body_at_the_cap_still_reaches_the_signature_check(shop: Any) -> None:
    for size, expected in ((NOTIFY_MAX_BYTES, 401), (NOTIFY_MAX_BYTES + 1, 413)):
        stream = CountingStream(size)
        declared, _ = _call(shop, stream, {"Content-Length": str(size)})
        chunked_stream = CountingStream(size)
        chunked, _ = _call(shop, chunked_stream, {"Transfer-Encoding": "chunked"})
        assert (declared, chunked) == (expected, expected)
        assert chunked_stream.read_bytes <= NOTIFY_MAX_BYTES + 1


def test_over_real_http_large_bodies_get_413(shop: Any) -> None:
    big = b"{" * (NOTIFY_MAX_BYTES + 1)
    with ShopServer(shop, threads=2) as server:
        url = f"{server.url}/pay/notify"
        declared = requests.post(url, data=big, timeout=30)
        chunked = requests.post(url, data=iter([big[:1000], big[1000:]]), timeout=30)
        small = requests.post(url, data=b"{}", timeout=30)
    assert (declared.status_code, declared.text) == (413, "notification too large")
    assert chunked.request.headers.get("Transfer-Encoding") == "chunked"
    assert (chunked.status_code, chunked.text) == (413, "notification too large")
    assert small.status_code == 401  # small and unsigned: refused by the signature check
