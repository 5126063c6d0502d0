"""Authentication and hostile input on /v1: a specific 4xx JSON error, signed, and no
partial write, for every malformed request."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from paylater_sdk.issuer import Issuer
from paylater_sdk.issuer.storage.schema import checkouts, idempotency_keys
from paylater_sdk.money import Money
from paylater_sdk.signing import RequestSigner, generate_private_key, serial_for
from tests._support.issuer import MERCHANT_ID, SignedClient, checkout_body


def _rows(issuer: Issuer) -> int:
    with issuer.engine.connect() as conn:
        created = conn.execute(sa.select(sa.func.count()).select_from(checkouts)).scalar_one()
        keys = conn.execute(sa.select(sa.func.count()).select_from(idempotency_keys)).scalar_one()
    return int(created) + int(keys)


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert body["code"] == code
    assert body["request_id"] == response.headers["Request-Id"]
    assert body["message"]
    return body


# --- signatures ---------------------------------------------------------------------------


def test_missing_signature(api: SignedClient, issuer: Issuer) -> None:
    _error(api.post("/v1/checkouts", checkout_body(), sign=False), 401, "SIGNATURE_MISSING")
    assert _rows(issuer) == 0


def test_unknown_merchant(api: SignedClient, issuer: Issuer) -> None:
    key = generate_private_key("ed25519")
    stranger = RequestSigner("m_nobody", key, serial_for(key))
    body = json.dumps(checkout_body()).encode()
    headers = {"Authorization": stranger.authorization("POST", "/v1/checkouts", body)}
    response = api.request("POST", "/v1/checkouts", raw=body, headers=headers, sign=False)
    _error(response, 401, "UNKNOWN_MERCHANT")
    assert _rows(issuer) == 0


def test_another_merchants_key_is_an_unknown_key(api: SignedClient, other_key: Any) -> None:
    forged = RequestSigner(MERCHANT_ID, other_key, serial_for(other_key))
    body = json.dumps(checkout_body()).encode()
    headers = {"Authorization": forged.authorization("POST", "/v1/checkouts", body)}
    response = api.request("POST", "/v1/checkouts", raw=body, headers=headers, sign=False)
    _error(response, 401, "UNKNOWN_KEY")


def test_body_altered_after_signing(api: SignedClient, issuer: Issuer) -> None:
    body = json.dumps(checkout_body()).encode()
    headers = {"Authorization": api.signer.authorization("POST", "/v1/checkouts", body)}
    tampered = body.replace(b"12000", b"12001")
    response = api.request("POST", "/v1/checkouts", raw=tampered, headers=headers, sign=False)
    _error(response, 401, "SIGNATURE_INVALID")
    assert _rows(issuer) == 0


def test_query_altered_after_signing(api: SignedClient) -> None:
    headers = {
        "Authorization": api.signer.authorization("GET", "/v1/checkouts?out_trade_no=A", b"")
    }
    response = api.get("/v1/checkouts?out_trade_no=B", headers=headers, sign=False)
    _error(response, 401, "SIGNATURE_INVALID")


def test_replayed_request(api: SignedClient, issuer: Issuer) -> None:
    body = json.dumps(checkout_body()).encode()
    headers = {"Authorization": api.signer.authorization("POST", "/v1/checkouts", body)}
    first = api.request("POST", "/v1/checkouts", raw=body, headers=headers, sign=False)
    assert first.status_code == 201
    again = api.request("POST", "/v1/checkouts", raw=body, headers=headers, sign=False)
    _error(again, 401, "REPLAYED")


def test_stale_timestamp(api: SignedClient) -> None:
    old = int(time.time()) - 301
    headers = {
        "Authorization": api.signer.authorization("GET", "/v1/certificates", b"", timestamp=old)
    }
    _error(api.get("/v1/certificates", headers=headers, sign=False), 401, "TIMESTAMP_OUT_OF_RANGE")


def test_garbage_authorization_header(api: SignedClient) -> None:
    headers = {"Authorization": 'PAYLATER-ED25519 mchid="m_shop",signature=oops'}
    _error(api.get("/v1/certificates", headers=headers, sign=False), 401, "SIGNATURE_INVALID")


def test_the_test_clock_does_not_break_signature_timestamps(
    api: SignedClient, issuer: Issuer
) -> None:
    issuer.advance_clock(30 * 24 * 3600)
    assert api.get("/v1/certificates").status_code == 200


# --- bodies ---------------------------------------------------------------------------------


def test_non_json_body(api: SignedClient, issuer: Issuer) -> None:
    _error(api.post("/v1/checkouts", raw=b"{not json"), 400, "INVALID_JSON")
    _error(api.post("/v1/checkouts", raw=b"[1, 2]"), 400, "INVALID_JSON")
    _error(api.post("/v1/checkouts", raw=b"\xff\xfe"), 400, "INVALID_JSON")
    _error(api.post("/v1/checkouts", raw=b'{"a": NaN}'), 400, "INVALID_JSON")
    _error(api.post("/v1/checkouts", raw=b'{"a": 1, "a": 2}'), 400, "INVALID_JSON")
    _error(api.post("/v1/checkouts", raw=b"[" * 5000 + b"]" * 5000), 400, "INVALID_JSON")
    assert _rows(issuer) == 0


def test_wrong_content_type(api: SignedClient, issuer: Issuer) -> None:
    raw = json.dumps(checkout_body()).encode()
    _error(
        api.post("/v1/checkouts", raw=raw, content_type="text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE"
    )
    assert _rows(issuer) == 0


def test_body_over_64_kib(api: SignedClient, issuer: Issuer) -> None:
    body = checkout_body()
    body["description"] = "x" * (65 * 1024)
    _error(api.post("/v1/checkouts", body), 413, "BODY_TOO_LARGE")
    assert _rows(issuer) == 0


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"surprise": 1}, "UNKNOWN_FIELD", "surprise"),
        ({"amount": {"value": 120.0, "currency": "CNY"}}, "INVALID_AMOUNT", "amount"),
        ({"amount": {"value": -1, "currency": "CNY"}}, "INVALID_AMOUNT", "amount"),
        ({"amount": {"value": 0, "currency": "CNY"}}, "INVALID_AMOUNT", "amount"),
        ({"amount": {"value": "12000", "currency": "CNY"}}, "INVALID_AMOUNT", "amount"),
        ({"amount": {"value": 10**30, "currency": "CNY"}}, "INVALID_AMOUNT", "amount"),
        ({"amount": {"value": 12000, "currency": "XXX"}}, "INVALID_AMOUNT", "amount"),
        ({"amount": {"value": 12000, "currency": "CNY", "x": 1}}, "INVALID_AMOUNT", "amount"),
        ({"amount": 120}, "INVALID_AMOUNT", "amount"),
        ({"out_trade_no": ""}, "INVALID_FIELD", "out_trade_no"),
        ({"out_trade_no": "has space"}, "INVALID_FIELD", "out_trade_no"),
        ({"out_trade_no": "x" * 65}, "INVALID_FIELD", "out_trade_no"),
        ({"description": 5}, "INVALID_FIELD", "description"),
        ({"description": "bell\x07"}, "INVALID_FIELD", "description"),
        ({"notify_url": "ftp://shop.example/n"}, "INVALID_FIELD", "notify_url"),
        ({"notify_url": "https://evil.example/n"}, "URL_NOT_ALLOWED", "notify_url"),
        ({"return_url": "https://shop.example.evil.com/r"}, "URL_NOT_ALLOWED", "return_url"),
        ({"plans": []}, "INVALID_FIELD", "plans"),
        ({"plans": "fenfu-3"}, "INVALID_FIELD", "plans"),
        ({"expires_in": 10}, "INVALID_FIELD", "expires_in"),
        ({"expires_in": True}, "INVALID_FIELD", "expires_in"),
    ],
)
def test_bad_checkout_fields(
    api: SignedClient, issuer: Issuer, change: dict[str, Any], code: str, field: str
) -> None:
    request_body = checkout_body()
    request_body.update(change)
    body = _error(api.post("/v1/checkouts", request_body), 400, code)
    assert body["field"] == field
    assert _rows(issuer) == 0


@pytest.mark.parametrize(
    "missing", ["out_trade_no", "amount", "description", "notify_url", "return_url"]
)
def test_missing_checkout_fields(api: SignedClient, issuer: Issuer, missing: str) -> None:
    body = checkout_body()
    del body[missing]
    assert _error(api.post("/v1/checkouts", body), 400, "MISSING_FIELD")["field"] == missing
    assert _rows(issuer) == 0


def test_currency_the_issuer_does_not_lend_in(api: SignedClient, issuer: Issuer) -> None:
    body = checkout_body()
    body["amount"] = {"value": 12000, "currency": "USD"}
    _error(api.post("/v1/checkouts", body), 400, "CURRENCY_MISMATCH")
    assert _rows(issuer) == 0


def test_currency_mismatch_on_capture(api: SignedClient, issuer: Issuer) -> None:
    buyer = issuer.create_buyer(limit=Money("500", "CNY"))
    checkout = api.post("/v1/checkouts", checkout_body()).get_json()
    order_id = issuer.orders.authorize(checkout["id"], buyer_id=buyer.id, plan_id="fenfu-3")[
        "order"
    ]["id"]
    response = api.post(
        f"/v1/orders/{order_id}/capture", {"amount": {"value": 100, "currency": "USD"}}
    )
    _error(response, 400, "CURRENCY_MISMATCH")
    assert api.get(f"/v1/checkouts/{checkout['id']}").get_json()["state"] == "AUTHORIZED"


def test_empty_object_bodies_refuse_fields(api: SignedClient) -> None:
    checkout = api.post("/v1/checkouts", checkout_body()).get_json()
    response = api.post(f"/v1/checkouts/{checkout['id']}/close", {"force": True})
    _error(response, 400, "UNKNOWN_FIELD")
    # an empty body is the same as {}
    closed = api.request("POST", f"/v1/checkouts/{checkout['id']}/close", raw=b"")
    assert closed.get_json()["state"] == "CLOSED"


# --- paths and queries ----------------------------------------------------------------------


def test_unknown_and_malformed_ids_are_404(api: SignedClient) -> None:
    _error(api.get("/v1/checkouts/co_doesnotexist"), 404, "NOT_FOUND")
    _error(api.get("/v1/checkouts/" + "x" * 65), 404, "NOT_FOUND")
    _error(api.get("/v1/checkouts/co%00x"), 404, "NOT_FOUND")
    _error(api.get("/v1/refunds/rf_nope"), 404, "NOT_FOUND")
    _error(api.post("/v1/orders/ord_nope/capture", {}), 404, "NOT_FOUND")
    _error(api.get("/v1/nothing-here"), 404, "NOT_FOUND")


def test_method_not_allowed(api: SignedClient) -> None:
    body = _error(api.request("DELETE", "/v1/checkouts"), 405, "METHOD_NOT_ALLOWED")
    assert "DELETE" in body["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/checkouts?limit=0",
        "/v1/checkouts?out_trade_no=A&out_trade_no=B",
        "/v1/checkouts?out_trade_no=A&extra=1",
        "/v1/checkouts?out_trade_no=" + "A" * 65,
        "/v1/checkouts?out_trade_no=" + "A" * 3000,
        "/v1/plans/quote?amount=12.5&currency=CNY",
        "/v1/plans/quote?amount=-5&currency=CNY",
        "/v1/plans/quote?amount=12000",
        "/v1/plans/quote?amount=12000&currency=CN",
        "/v1/plans/quote?amount=99999999999999999999&currency=CNY",
        "/v1/certificates?x=1",
    ],
)
def test_bad_query_parameters(api: SignedClient, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["code"] in {"INVALID_QUERY", "INVALID_AMOUNT"}


def test_quote_with_zero_amount_is_invalid(api: SignedClient) -> None:
    _error(api.get("/v1/plans/quote?amount=0&currency=CNY"), 400, "INVALID_AMOUNT")


def test_error_responses_are_signed(api: SignedClient) -> None:
    # SignedClient verifies every response, so reaching the assertion proves the signature
    response = api.get("/v1/checkouts/co_nope")
    assert response.headers["Paylater-Signature-Type"] == "PAYLATER-ED25519"
    assert response.status_code == 404


def test_secrets_never_appear_in_errors(api: SignedClient, app: Flask, issuer: Issuer) -> None:
    response = api.get("/v1/certificates", headers={"Authorization": "x" * 5000}, sign=False)
    assert response.status_code == 401
    assert "x" * 64 not in response.get_data(as_text=True)
    assert "0123456789abcdef" not in repr(issuer.config)
    assert "0123456789abcdef" not in repr(issuer.config.merchants)
