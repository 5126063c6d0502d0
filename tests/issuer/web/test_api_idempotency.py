"""Idempotency-Key: a retried POST never acts twice; a reused key with another body is 422."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from paylater_sdk.issuer import Issuer, TestBuyer
from paylater_sdk.issuer.domain import orderbook
from paylater_sdk.issuer.storage import idempotency
from paylater_sdk.issuer.storage.schema import checkouts, idempotency_keys
from tests._support.issuer import (
    MERCHANT_ID,
    SignedClient,
    authorized,
    balances,
    checkout_body,
    cny,
)


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


def test_a_duplicate_of_a_running_request_never_acts_twice(
    app: Flask,
    api: SignedClient,
    issuer: Issuer,
    merchant_key: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the first request is inside its transaction, a duplicate answers 409
    IDEMPOTENCY_IN_PROGRESS with Retry-After (PostgreSQL: the key's advisory lock is
    taken) or waits for it and replays its answer (SQLite: writers take turns)."""
    inside, release = threading.Event(), threading.Event()
    real = orderbook.checkout_view

    def slow(row: Any, order: Any) -> Any:  # after the insert, inside the transaction
        inside.set()
        assert release.wait(20)
        return real(row, order)

    monkeypatch.setattr(orderbook, "checkout_view", slow)
    headers = {"Idempotency-Key": "busy"}
    first: list[Any] = []
    runner = threading.Thread(
        target=lambda: first.append(api.post("/v1/checkouts", checkout_body(), headers=headers))
    )
    runner.start()
    assert inside.wait(20)
    second_client = SignedClient(app.test_client(), issuer, MERCHANT_ID, merchant_key)
    if issuer.engine.dialect.name == "postgresql":
        busy = second_client.post("/v1/checkouts", checkout_body(), headers=headers)
        assert busy.status_code == 409
        assert busy.get_json()["code"] == "IDEMPOTENCY_IN_PROGRESS"
        assert busy.headers["Retry-After"] == "1"
        release.set()
    else:
        threading.Timer(0.3, release.set).start()
    runner.join(30)
    after = second_client.post("/v1/checkouts", checkout_body(), headers=headers)
    assert first[0].status_code == after.status_code == 201
    assert after.get_data() == first[0].get_data()
    assert after.headers["Idempotent-Replayed"] == "true"
    assert _count(issuer) == 1


def test_a_request_that_dies_before_commit_leaves_nothing(
    api: SignedClient, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No claim outlives a failed request: the retry runs at once (no lease to wait for)."""
    real = orderbook.checkout_view
    calls: list[int] = []

    def dies_once(row: Any, order: Any) -> Any:  # after the insert, before the commit
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the process dies here")
        return real(row, order)

    monkeypatch.setattr(orderbook, "checkout_view", dies_once)
    headers = {"Idempotency-Key": "dead"}
    assert api.post("/v1/checkouts", checkout_body(), headers=headers).status_code == 500
    assert _count(issuer) == 0
    with issuer.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(idempotency_keys)).scalar() == 0
    retried = api.post("/v1/checkouts", checkout_body(), headers=headers)
    assert retried.status_code == 201
    assert _count(issuer) == 1


def test_the_answer_commits_with_the_effect_or_not_at_all(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If storing the answer fails, the capture it describes is rolled back with it."""
    order_id = authorized(api, issuer, buyer)["order"]["id"]
    real = idempotency._insert

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(idempotency, "_insert", broken)
    headers = {"Idempotency-Key": "cap-atomic"}
    assert api.post(f"/v1/orders/{order_id}/capture", {}, headers=headers).status_code == 500
    assert balances(issuer, buyer.id)["outstanding"] == 0  # no capture without its answer
    monkeypatch.setattr(idempotency, "_insert", real)
    first = api.post(f"/v1/orders/{order_id}/capture", {}, headers=headers)
    again = api.post(f"/v1/orders/{order_id}/capture", {}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.get_data() == first.get_data()
    assert balances(issuer, buyer.id)["outstanding"] == 120_00


def test_a_claim_left_by_a_version_1_issuer_is_no_answer(api: SignedClient, issuer: Issuer) -> None:
    fp = idempotency.fingerprint("POST", "/v1/checkouts", checkout_body())
    with issuer.engine.begin() as conn:
        conn.execute(
            idempotency_keys.insert().values(
                merchant_id=MERCHANT_ID,
                key="old",
                fingerprint=fp,
                status="IN_PROGRESS",
                created_at=0,
            )
        )
    response = api.post("/v1/checkouts", checkout_body(), headers={"Idempotency-Key": "old"})
    assert response.status_code == 201
    assert _count(issuer) == 1


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
