"""Notifications seen from the merchant's side: a local receiver, and the issuer's keys.

The receiver is a small threaded HTTP server on 127.0.0.1 that records every POST
(headers and raw body) and answers 204, optionally after a delay (to keep a delivery in
flight while the issuer is killed). Envelopes are opened with the library's own
``open_notification``, with the issuer's public keys read from its database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
import sqlalchemy as sa

from paylater_sdk.signing import (
    InMemoryNonceStore,
    KeyRing,
    Notification,
    ResponseSigner,
    load_private_key,
    open_notification,
    serial_for,
)

__all__ = ["Delivery", "Receiver", "issuer_keyring", "issuer_signer", "open_all", "receiver"]


@attrs.frozen
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.delay = 0.0
        self.status = 204
        self.in_flight = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1 << 20))
                with receiver.lock:
                    receiver.in_flight += 1
                    receiver.deliveries.append(Delivery(self.path, dict(self.headers), body))
                try:
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the issuer died meanwhile
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def snapshot(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)


@contextmanager
def receiver() -> Iterator[Receiver]:
    recv = Receiver()
    thread = threading.Thread(target=recv.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recv
    finally:
        recv.server.shutdown()
        recv.server.server_close()
        thread.join(5)


def _issuer_private_keys(database_url: str, *, active_only: bool) -> list[Any]:
    # The table is read with plain SQL: its name and columns are the storage contract,
    # the module that defines it is not.
    query = "SELECT private_pem FROM issuer_keys" + (" WHERE active" if active_only else "")
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [load_private_key(row[0].encode()) for row in conn.execute(sa.text(query))]
    finally:
        engine.dispose()


def issuer_keyring(database_url: str) -> KeyRing:
    ring = KeyRing()
    for key in _issuer_private_keys(database_url, active_only=False):
        ring.add(key.public_key())
    return ring


def issuer_signer(database_url: str) -> ResponseSigner:
    """The issuer's active signer: lets a test seal genuine-looking fresh envelopes."""
    [key] = _issuer_private_keys(database_url, active_only=True)
    return ResponseSigner(key, serial_for(key))


def open_all(deliveries: list[Delivery], api_key: str, keyring: KeyRing) -> list[Notification]:
    """Verify and decrypt every delivery (each once: a genuine retry has a fresh nonce)."""
    nonces = InMemoryNonceStore()
    return [
        open_notification(d.headers, d.body, api_key=api_key, keyring=keyring, nonce_store=nonces)
        for d in deliveries
    ]


def admin_log(url: str) -> list[dict[str, Any]]:
    """Every notification of the issuer, with its state (test mode: no token needed)."""
    import requests

    answer = requests.get(url + "/_admin/notifications?format=json&limit=1000", timeout=20)
    assert answer.status_code == 200, answer.text[:300]
    data: list[dict[str, Any]] = answer.json()["data"]
    return data
