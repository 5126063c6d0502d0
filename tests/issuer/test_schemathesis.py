"""No request, however malformed, yields a 5xx: schemathesis against /v1/openapi.json.

Requests are generated from the issuer's own OpenAPI document, in both positive (valid
per the schema) and negative (violating it) modes. A WSGI middleware signs every
generated request as the test merchant, so the run gets past authentication and into
each route's own validation; unsigned and badly signed requests are covered by
test_api_auth.py. Bounded: a few dozen examples per operation.
"""

from __future__ import annotations

import io
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
from paylater_sdk.issuer.db import faults
from paylater_sdk.issuer.openapi import openapi_document
from paylater_sdk.keys import serial_for
from paylater_sdk.signing import RequestSigner

from .conftest import API_KEY, MERCHANT_ID, merchant_config


class _SignEverything:
    """Adds a valid merchant signature to each request that reaches the app."""

    def __init__(self, wsgi: Callable[..., Iterable[bytes]], signer: RequestSigner) -> None:
        self.wsgi = wsgi
        self.signer = signer
        self.seen: list[tuple[str, str, int]] = []

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        target = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
        method = environ["REQUEST_METHOD"]
        environ["HTTP_AUTHORIZATION"] = self.signer.authorization(method, target, body)

        def recording_start(status: str, headers: Any, *args: Any) -> Any:
            self.seen.append((method, environ.get("PATH_INFO", ""), int(status.split()[0])))
            return start_response(status, headers, *args)

        return self.wsgi(environ, recording_start)


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
        app.wsgi_app, RequestSigner(MERCHANT_ID, merchant_key, serial_for(merchant_key))
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
