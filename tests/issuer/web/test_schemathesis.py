"""No request, however malformed, yields a 5xx: schemathesis against /v1/openapi.json.

Requests are generated from the issuer's own OpenAPI document, in both positive (valid
per the schema) and negative (violating it) modes. A WSGI middleware signs every
generated request as the test merchant, so the run gets past authentication and into
each route's own validation; unsigned and badly signed requests are covered by
test_api_auth.py. Bounded: a few dozen examples per operation.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.issuer.storage.schema import faults
from paylater_sdk.issuer.web.contract import openapi_document
from paylater_sdk.money import Money
from paylater_sdk.signing import RequestSigner, serial_for
from tests._support.issuer import API_KEY, MERCHANT_ID, merchant_config


class _SignEverything:
    """Signs each request that reaches the app as the test merchant.

    Two times in three it also swaps a generated object id (in the path, or a body's
    ``order_id``) for a real one in the state the route acts on: a fresh checkout to
    close, a fresh authorized order to capture or void, a captured order to refund. So
    the generated bodies reach capture, void and refund logic, not only the 404 path.
    """

    def __init__(self, app: Flask, signer: RequestSigner) -> None:
        self.wsgi = app.wsgi_app
        self.issuer = get_issuer(app)
        self.signer = signer
        self.seen: list[tuple[str, str, int]] = []
        self.count = 0

    # --- real objects, made directly through the Issuer ---------------------------------

    def _checkout(self) -> dict[str, Any]:
        self.count += 1
        return self.issuer.orders.create_checkout(
            MERCHANT_ID,
            out_trade_no=f"SUB{self.count}",
            amount=Money("600.00", "CNY"),
            description="substituted",
            notify_url="https://shop.example/n",
            return_url="https://shop.example/r",
            plan_ids=None,
            expires_in=None,
            base_url="http://localhost/",
        )

    def _order(self, captured: bool) -> str:
        buyer = self.issuer.create_buyer(limit=Money("100000.00", "CNY"))
        checkout = self._checkout()
        order_id: str = self.issuer.orders.authorize(
            checkout["id"], buyer_id=buyer.id, plan_id="fenfu-3"
        )["order"]["id"]
        if captured:
            self.issuer.orders.capture(MERCHANT_ID, order_id, None)
        return order_id

    def _real_id(self, kind: str, rest: str) -> str:
        if kind == "checkouts":
            checkout_id: str = self._checkout()["id"]
            return checkout_id
        if kind == "orders":
            return self._order(captured=False)
        order_id = self._order(captured=True)
        refund = self.issuer.orders.create_refund(
            MERCHANT_ID,
            order_id=order_id,
            amount=Money("1.00", "CNY"),
            out_refund_no=f"RF{self.count}",
            reason=None,
        )
        refund_id: str = refund["id"]
        return refund_id

    def _substitute(self, environ: dict[str, Any], body: bytes) -> bytes:
        self.count += 1
        if self.count % 3 == 0:
            return body
        # Generated keys repeat ("0", "00", ...) across different bodies, which answers 422
        # before any route logic runs; idempotency has its own tests.
        environ.pop("HTTP_IDEMPOTENCY_KEY", None)
        path = environ.get("PATH_INFO", "")
        match = _OBJECT_PATH.fullmatch(path)
        if match:
            kind, rest = match.group(1), match.group(3) or ""
            path = f"/v1/{kind}/{self._real_id(kind, rest)}{rest}"
            environ["PATH_INFO"] = path
            query = environ.get("QUERY_STRING", "")
            target = path + (f"?{query}" if query else "")
            environ["RAW_URI"] = environ["REQUEST_URI"] = target
        if path == "/v1/refunds" and body:
            try:
                data = json.loads(body)
            except ValueError:
                return body
            if isinstance(data, dict) and isinstance(data.get("order_id"), str):
                data["order_id"] = self._order(captured=True)
                body = json.dumps(data).encode()
        return body

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        body = self._substitute(environ, body)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        target = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
        method = environ["REQUEST_METHOD"]
        environ["HTTP_AUTHORIZATION"] = self.signer.authorization(method, target, body)

        def recording_start(status: str, headers: Any, *args: Any) -> Any:
            self.seen.append((method, environ.get("PATH_INFO", ""), int(status.split()[0])))
            return start_response(status, headers, *args)

        return self.wsgi(environ, recording_start)


_OBJECT_PATH = re.compile(r"/v1/(checkouts|orders|refunds)/([^/]+)(/[a-z]+)?")


@pytest.fixture(scope="module")
def fuzz_app(
    tmp_path_factory: pytest.TempPathFactory, merchant_key: Any, other_key: Any
) -> Iterator[Flask]:
    folder = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": f"sqlite:///{folder / 'issuer.db'}",
            "MERCHANTS": [merchant_config(MERCHANT_ID, merchant_key, API_KEY)],
            "NOTIFY_TRANSPORT": lambda url, headers, body, timeout: 200,
            "FAULT_TIMEOUT": 0.0,
        }
    )
    middleware = _SignEverything(
        app, RequestSigner(MERCHANT_ID, merchant_key, serial_for(merchant_key))
    )
    app.wsgi_app = middleware  # type: ignore[method-assign]
    app.extensions["fuzz_middleware"] = middleware
    yield app
    get_issuer(app).engine.dispose()


# The document the app serves at /v1/openapi.json in test mode (test_openapi.py checks
# that the served one is this one).
schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=30
)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_answers_match_the_document(case: Any, fuzz_app: Flask) -> None:
    if case.path == "/_test/faults" and case.method.upper() == "POST":
        # An armed error_500 fault answers 500 on purpose; the endpoint's own validation
        # is still exercised, then whatever it armed is cleared.
        response = case.call(app=fuzz_app)
        case.validate_response(response, checks=[not_a_server_error])
        with get_issuer(fuzz_app).engine.begin() as conn:
            conn.execute(faults.delete())
        return
    response = case.call(app=fuzz_app)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


def test_the_fuzzer_got_past_authentication(fuzz_app: Flask) -> None:
    """Guard against a run that only ever saw 401s (which would prove nothing)."""
    client = fuzz_app.test_client()
    response = client.post(
        "/v1/checkouts",
        json={
            "out_trade_no": "FUZZ1",
            "amount": {"value": 12000, "currency": "CNY"},
            "description": "x",
            "notify_url": "https://shop.example/n",
            "return_url": "https://shop.example/r",
        },
    )
    assert response.status_code == 201
    assert response.get_json()["state"] == "CREATED"


def test_the_run_reached_the_routes_own_logic(fuzz_app: Flask) -> None:
    """After the parametrized run (same module): many answers, none a 5xx, and some
    successes and some validation errors, i.e. it exercised real code paths."""
    seen = fuzz_app.extensions["fuzz_middleware"].seen
    statuses = [status for _, _, status in seen]
    assert len(statuses) > 200
    assert all(status < 500 for status in statuses)
    assert {200, 201, 400, 404} <= set(statuses)
    reached = {(m, re.sub(r"/(co|ord|rf)_[0-9a-f]+", "/{id}", p), s) for m, p, s in seen}
    # generated bodies captured, voided and refunded real orders
    assert ("POST", "/v1/orders/{id}/capture", 200) in reached
    assert ("POST", "/v1/orders/{id}/void", 200) in reached
    assert ("POST", "/v1/refunds", 201) in reached
    assert ("POST", "/v1/checkouts/{id}/close", 200) in reached
    assert get_issuer(fuzz_app).check_ledger() == []
