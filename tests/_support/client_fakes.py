"""Helpers: a fake issuer for the client's unit tests: ``responses`` answers, signed for real.

Every mocked answer is signed with a real issuer key (``ResponseSigner``) and every request
the client sends is verified with ``verify_request``, so these tests prove the wire format
in both directions without the Flask issuer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import pytest
import requests
import responses

from paylater_sdk.client import PayLaterClient, RetryPolicy
from paylater_sdk.signing import (
    InMemoryNonceStore,
    KeyRing,
    ResponseSigner,
    generate_private_key,
    serial_for,
    verify_request,
)

BASE = "https://issuer.paylater.test"
API_KEY = b"0123456789abcdef0123456789ABCDEF"
MERCHANT = "m_test"

_MERCHANT_KEY = generate_private_key("ed25519")
_ISSUER_KEY = generate_private_key("ed25519")


def money(value: int) -> dict[str, Any]:
    return {"value": value, "currency": "CNY"}


def plan_json(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "plan_id": "fenfu-6",
        "name": "6期 6 installments",
        "method": "FLAT_FEE",
        "periods": 6,
        "frequency": "MONTHLY",
        "fee_payer": "BUYER",
        "first_payment": money(2072),
        "regular_payment": money(2072),
        "total_amount": money(12432),
        "total_cost": money(432),
        "apr": "0.1235",
        "effective_annual_rate": "0.1297",
    }
    data.update(overrides)
    return data


def order_json(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "ord_1",
        "checkout_id": "co_1",
        "out_trade_no": "A1001",
        "state": "AUTHORIZED",
        "amount": money(12000),
        "captured_amount": money(0),
        "refunded_amount": money(0),
        "plan": plan_json(),
        "schedule": None,
        "authorized_at": "2026-11-29T19:02:25+00:00",
        "authorization_expires_at": "2026-12-06T19:02:25+00:00",
        "captured_at": None,
    }
    data.update(overrides)
    return data


def checkout_json(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "co_1",
        "out_trade_no": "A1001",
        "state": "CREATED",
        "amount": money(12000),
        "description": "Tea set",
        "notify_url": "https://shop.example/notify",
        "return_url": "https://shop.example/return",
        "plans": [plan_json()],
        "authorize_url": f"{BASE}/authorize/co_1",
        "created_at": "2026-11-29T19:00:00+00:00",
        "expires_at": "2026-11-29T19:30:00+00:00",
        "order": None,
    }
    data.update(overrides)
    return data


def refund_json(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "rf_1",
        "order_id": "ord_1",
        "out_refund_no": "R1",
        "amount": money(3000),
        "reason": "damaged",
        "state": "SUCCEEDED",
        "created_at": "2026-11-30T10:00:00+00:00",
    }
    data.update(overrides)
    return data


@attrs.define
class Seen:
    """One request as the fake issuer received it (after verifying its signature)."""

    method: str
    path_and_query: str
    body: bytes
    headers: Mapping[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@attrs.define
class FakeIssuer:
    """Signs answers like the real issuer and checks every request's signature."""

    signer: ResponseSigner
    issuer_key: Any
    merchant_keys: KeyRing
    nonces: InMemoryNonceStore = attrs.field(factory=InMemoryNonceStore)
    seen: list[Seen] = attrs.field(factory=list)

    def signed(
        self, status: int, body: Any, *, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        out = {"Content-Type": "application/json", "Request-Id": f"req_{len(self.seen)}"}
        out.update(self.signer.headers(raw))
        out.update(headers or {})
        return status, out, raw

    def check(self, request: requests.PreparedRequest) -> Seen:
        path = request.path_url
        body = request.body or b""
        assert isinstance(body, bytes)
        mchid = verify_request(
            request.headers["Authorization"],
            request.method or "",
            path,
            body,
            keyring=self.merchant_keys,
            nonce_store=self.nonces,
        )
        assert mchid == MERCHANT
        seen = Seen(request.method or "", path, body, dict(request.headers))
        self.seen.append(seen)
        return seen

    def route(
        self,
        mock: responses.RequestsMock,
        method: str,
        path: str,
        answer: Callable[[Seen], tuple[int, dict[str, str], bytes]] | list[Any],
    ) -> None:
        """Answer ``method path`` with a callback, or a list of answers in turn.

        List items are ``(status, body)`` pairs, exceptions to raise, or callables.
        """
        queue = list(answer) if isinstance(answer, list) else None

        def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
            seen = self.check(request)
            if queue is None:
                assert callable(answer)
                return answer(seen)
            item = queue.pop(0) if len(queue) > 1 else queue[0]
            if isinstance(item, BaseException):
                raise item
            if callable(item):
                return item(seen)  # type: ignore[no-any-return]
            status, body = item
            return self.signed(status, body)

        mock.add_callback(method, BASE + path.split("?")[0], callback=callback)


@pytest.fixture
def fake_issuer() -> FakeIssuer:
    ring = KeyRing()
    ring.add(_MERCHANT_KEY.public_key())
    return FakeIssuer(
        signer=ResponseSigner(_ISSUER_KEY, serial_for(_ISSUER_KEY)),
        issuer_key=_ISSUER_KEY,
        merchant_keys=ring,
    )


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(sleeps: list[float], **overrides: Any) -> PayLaterClient:
    options: dict[str, Any] = {
        "merchant_id": MERCHANT,
        "private_key": _MERCHANT_KEY,
        "key_serial": serial_for(_MERCHANT_KEY),
        "api_key": API_KEY,
        "issuer_keys": [_ISSUER_KEY.public_key()],
        "retry_policy": RetryPolicy(jitter=lambda d: d, sleep=sleeps.append),
    }
    options.update(overrides)
    return PayLaterClient(BASE, **options)


@pytest.fixture
def client(sleeps: list[float]) -> Iterator[PayLaterClient]:
    with make_client(sleeps) as c:
        yield c


def certificates_body(*keys: Any, api_key: bytes = API_KEY, **overrides: Any) -> dict[str, Any]:
    """The ``/v1/certificates`` answer: each public key PEM encrypted to the API key."""
    from paylater_sdk.signing import encrypt_resource, public_key_pem

    data = []
    for key in keys:
        item = {
            "serial_no": serial_for(key),
            "algorithm": "PAYLATER-ED25519",
            "effective_time": "2020-01-01T00:00:00+00:00",
            "expire_time": None,
            "encrypt_certificate": encrypt_resource(
                public_key_pem(key), api_key, associated_data="certificate"
            ),
        }
        item.update(overrides)
        data.append(item)
    return {"data": data}


def issuer_key() -> Any:
    return _ISSUER_KEY
