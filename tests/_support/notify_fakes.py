"""Test doubles for notification delivery: a fake issuer, a recording transport, helpers.

The fake issuer implements the public interface delivery declares
(:class:`paylater_sdk.issuer.delivery.attempt.DeliveryIssuer`) over a real database, with a
clock the tests move by hand and a list of faults.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from paylater_sdk.issuer.delivery import outbox
from paylater_sdk.signing import (
    InMemoryNonceStore,
    KeyRing,
    ResponseSigner,
    generate_private_key,
    open_notification,
    serial_for,
)

API_KEY = b"0123456789abcdef0123456789ABCDEF"
START = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
URL = "https://shop.example/paylater/notify"


@attrs.frozen
class FakeConfig:
    """The two settings delivery reads from ``IssuerConfig``."""

    notify_schedule: tuple[int, ...] = (15, 15, 30)
    notify_transport: Any = None


@attrs.frozen
class FakeMerchant:
    notify_prefixes: str  # JSON, as the merchants table stores it
    key_error: Exception | None = None  # raised when the API key is read

    @property
    def api_key(self) -> str:
        if self.key_error is not None:
            raise self.key_error
        return API_KEY.decode()


class FakeIssuer:
    """The public interface delivery uses (``DeliveryIssuer``), over a real database."""

    def __init__(self, engine: Engine, schedule: tuple[int, ...] = (15, 15, 30)) -> None:
        self.engine = engine
        self.clock = START
        key = generate_private_key("ed25519")
        self.serial = serial_for(key)
        self.signer = ResponseSigner(key, self.serial)
        self.keyring = KeyRing()
        self.keyring.add(key.public_key())
        self.faults: list[str] = []
        self.fault_calls: list[tuple[str, str]] = []
        self.fault_lock = threading.Lock()
        self.config = FakeConfig(notify_schedule=schedule)
        self.api_key_error: Exception | None = None
        #: Calls of merchant(): delivery reads the merchant once per attempt.
        self.merchant_reads = 0
        #: Registered merchants and their notify prefixes.
        self.prefixes: dict[str, list[str]] = {"m1": ["https://shop.example/paylater/"]}

    def now(self) -> datetime:
        return self.clock

    def advance(self, seconds: int) -> None:
        self.clock += timedelta(seconds=seconds)

    def response_signer(self) -> ResponseSigner:
        return self.signer

    def merchant(self, merchant_id: str) -> FakeMerchant | None:
        with self.fault_lock:
            self.merchant_reads += 1
        prefixes = self.prefixes.get(merchant_id)
        if prefixes is None:
            return None
        return FakeMerchant(json.dumps(prefixes), self.api_key_error)

    def take_fault(self, kind_set: Collection[str], method: str, path: str) -> str | None:
        with self.fault_lock:  # attempts run on several threads at once
            self.fault_calls.append((method, path))
            for kind in self.faults:
                if kind in kind_set:
                    self.faults.remove(kind)
                    return kind
        return None


class Recorder:
    """A transport that records every call and answers from a script of outcomes."""

    def __init__(self, *outcomes: int | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, dict[str, str], bytes, float]] = []
        self.lock = threading.Lock()

    def __call__(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        with self.lock:
            self.calls.append((url, headers, body, timeout))
            outcome = self.outcomes.pop(0) if self.outcomes else 200
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def enqueue(issuer: FakeIssuer, **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "merchant_id": "m1",
        "notify_url": URL,
        "event_type": "CHECKOUT.AUTHORIZED",
        "original_type": "checkout",
        "resource": {"id": "co_1", "state": "AUTHORIZED", "amount": {"value": 12000}},
        "summary": "checkout authorized",
        "now": issuer.now(),
    }
    fields.update(overrides)
    with issuer.engine.begin() as conn:
        return outbox.enqueue(conn, **fields)


def row(issuer: FakeIssuer, event_id: str) -> Any:
    with issuer.engine.connect() as conn:
        return conn.execute(
            sa.select(outbox.notifications).where(outbox.notifications.c.id == event_id)
        ).one()


def open_sealed(issuer: FakeIssuer, headers: dict[str, str], body: bytes, store: Any = None) -> Any:
    return open_notification(
        headers,
        body,
        api_key=API_KEY,
        keyring=issuer.keyring,
        nonce_store=InMemoryNonceStore() if store is None else store,
    )
