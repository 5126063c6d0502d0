"""Idempotency-Key: a retried POST never acts twice; a reused key with another body is 422."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from paylater_sdk.errors import ConflictError
from paylater_sdk.issuer import Issuer, TestBuyer, idempotency
from paylater_sdk.issuer.db import checkouts, idempotency_keys

from .conftest import MERCHANT_ID, SignedClient, authorized, balances, checkout_body, cny


def _count(issuer: Issuer) -> int:
    with issuer.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(checkouts)).scalar_one())


def test_same_key_same_body_returns_the_stored_response(api: SignedClient, issuer: Issuer) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = api.post("/v1/checkouts", checkout_body(), headers=headers)
    second = api.post("/v1/checkouts", checkout_body(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.get_data() == first.get_data()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _count(issuer) == 1


def test_the_same_json_serialised_differently_is_the_same_request(
    api: SignedClient, issuer: Issuer
) -> None:
    body = checkout_body()
    compact = json.dumps(body, separators=(",", ":")).encode()
    spaced = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    headers = {"Idempotency-Key": "key-2"}
    first = api.post("/v1/checkouts", raw=compact, headers=headers)
    second = api.post("/v1/checkouts", raw=spaced, headers=headers)
    assert second.get_json() == first.get_json()
    assert _count(issuer) == 1


def test_same_key_different_body_is_422(api: SignedClient, issuer: Issuer) -> None:
    headers = {"Idempotency-Key": "key-3"}
    assert api.post("/v1/checkouts", checkout_body(), headers=headers).status_code == 201
    other = api.post("/v1/checkouts", checkout_body("OTHER"), headers=headers)
    assert other.status_code == 422
    assert other.get_json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    elsewhere = api.post(
        "/v1/refunds",
        {"order_id": "ord_x", "amount": cny(1), "out_refund_no": "R"},
        headers=headers,
    )
    assert elsewhere.status_code == 422
    assert _count(issuer) == 1


def test_a_retried_capture_captures_once(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    order_id = authorized(api, issuer, buyer)["order"]["id"]
    headers = {"Idempotency-Key": "cap-1"}
    first = api.post(f"/v1/orders/{order_id}/capture", {"amount": cny(100_00)}, headers=headers)
    second = api.post(f"/v1/orders/{order_id}/capture", {"amount": cny(100_00)}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.get_json() == first.get_json()
    assert balances(issuer, buyer.id)["outstanding"] == 100_00
    without_key = api.post(f"/v1/orders/{order_id}/capture", {"amount": cny(100_00)})
    assert without_key.status_code == 409


def test_client_errors_are_stored_too(api: SignedClient, issuer: Issuer) -> None:
    headers = {"Idempotency-Key": "bad-1"}
    body = checkout_body()
    body["notify_url"] = "https://evil.example/"
    first = api.post("/v1/checkouts", body, headers=headers)
    second = api.post("/v1/checkouts", body, headers=headers)
    assert first.status_code == second.status_code == 400
    assert second.get_data() == first.get_data()


def test_a_500_is_not_stored_so_the_retry_runs(api: SignedClient, issuer: Issuer) -> None:
    issuer.inject_fault("error_500", method="POST", path_prefix="/v1/checkouts")
    headers = {"Idempotency-Key": "flaky-1"}
    failed = api.post("/v1/checkouts", checkout_body(), headers=headers)
    assert failed.status_code == 500
    assert failed.get_json()["code"] == "INTERNAL_ERROR"
    retried = api.post("/v1/checkouts", checkout_body(), headers=headers)
    assert retried.status_code == 201
    assert _count(issuer) == 1


def test_a_request_still_running_answers_409_with_retry_after(
    api: SignedClient, issuer: Issuer
) -> None:
    fp = idempotency.fingerprint("POST", "/v1/checkouts", checkout_body())
    assert (
        idempotency.claim(
            issuer.engine, merchant_id=MERCHANT_ID, key="busy", fp=fp, now=issuer.now()
        )
        is None
    )
    response = api.post("/v1/checkouts", checkout_body(), headers={"Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert response.get_json()["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert response.headers["Retry-After"] == "1"
    assert _count(issuer) == 0
    with pytest.raises(ConflictError):
        idempotency.claim(
            issuer.engine, merchant_id=MERCHANT_ID, key="busy", fp=fp, now=issuer.now()
        )


def test_an_abandoned_claim_is_reclaimed_after_a_minute(api: SignedClient, issuer: Issuer) -> None:
    fp = idempotency.fingerprint("POST", "/v1/checkouts", checkout_body())
    idempotency.claim(issuer.engine, merchant_id=MERCHANT_ID, key="dead", fp=fp, now=issuer.now())
    issuer.advance_clock(idempotency.STALE_AFTER + 1)
    response = api.post("/v1/checkouts", checkout_body(), headers={"Idempotency-Key": "dead"})
    assert response.status_code == 201


def test_keys_are_per_merchant(api: SignedClient, other_api: SignedClient, issuer: Issuer) -> None:
    headers = {"Idempotency-Key": "shared"}
    mine = api.post("/v1/checkouts", checkout_body(), headers=headers)
    theirs = other_api.post("/v1/checkouts", checkout_body(), headers=headers)
    assert mine.status_code == theirs.status_code == 201
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    with issuer.engine.connect() as conn:
        owners = conn.execute(sa.select(idempotency_keys.c.merchant_id)).scalars().all()
    assert sorted(owners) == ["m_other", "m_shop"]


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there", "é"])
def test_malformed_keys_are_refused(api: SignedClient, issuer: Issuer, key: str) -> None:
    response = api.post(
        "/v1/checkouts",
        checkout_body(),
        headers={"Idempotency-Key": key.encode().decode("latin-1")},
    )
    assert response.status_code == 400
    assert response.get_json()["field"] == "Idempotency-Key"
    assert _count(issuer) == 0
