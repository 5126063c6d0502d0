"""The /v1 resources on the happy path: checkouts, quotes, eligibility, certificates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from paylater_sdk.errors import UnknownKeyError
from paylater_sdk.installments import STANDARD_OFFERS, quote_plans
from paylater_sdk.issuer import Issuer, TestBuyer, create_app, get_issuer
from paylater_sdk.issuer.domain import merchants
from paylater_sdk.issuer.domain.merchants import MerchantRegistry
from paylater_sdk.issuer.storage import keystore
from paylater_sdk.money import Money
from paylater_sdk.signing import (
    InMemoryNonceStore,
    decrypt_resource,
    load_public_key,
    serial_for,
    verify_response,
)
from tests._support.issuer import (
    API_KEY,
    MERCHANT_ID,
    SignedClient,
    authorized,
    checkout_body,
    cny,
    merchant_config,
)


def test_create_checkout_answers_201_with_the_full_object(
    api: SignedClient, issuer: Issuer
) -> None:
    response = api.post("/v1/checkouts", checkout_body())
    assert response.status_code == 201
    checkout = response.get_json()
    assert checkout["id"].startswith("co_")
    assert checkout["state"] == "CREATED"
    assert checkout["out_trade_no"] == "A1001"
    assert checkout["amount"] == cny(120_00)
    assert checkout["description"] == "蓝牙耳机 Bluetooth earphones"
    assert checkout["authorize_url"] == f"http://localhost/authorize/{checkout['id']}"
    assert checkout["order"] is None
    created = issuer.now()
    assert datetime.fromisoformat(checkout["created_at"]) <= created
    assert datetime.fromisoformat(checkout["expires_at"]) - datetime.fromisoformat(
        checkout["created_at"]
    ) == timedelta(seconds=1800)
    expected = quote_plans(Money("120.00", "CNY"), STANDARD_OFFERS, start=created.date())
    assert checkout["plans"] == [q.to_json() for q in expected]
    assert [p["plan_id"] for p in checkout["plans"]] == [q.plan_id for q in expected]


def test_the_create_answer_is_what_a_read_of_the_row_answers(api: SignedClient) -> None:
    """create answers from the values it wrote (no re-read): the same object GET reads back,
    metadata included, and the same again for the idempotent replay."""
    body = {**checkout_body("A2002"), "metadata": {"cart": "c-9", "渠道": "小程序"}}
    created = api.post("/v1/checkouts", body, headers={"Idempotency-Key": "k-create-1"})
    assert created.status_code == 201
    read = api.get(f"/v1/checkouts/{created.get_json()['id']}")
    assert read.status_code == 200
    assert created.get_json() == read.get_json()
    assert created.get_json()["metadata"] == {"cart": "c-9", "渠道": "小程序"}
    replay = api.post("/v1/checkouts", body, headers={"Idempotency-Key": "k-create-1"})
    assert replay.get_json() == created.get_json()


def test_the_capture_answer_is_the_order_a_read_answers(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer
) -> None:
    """capture answers with the order as read for its notification (no second read): the
    same object the checkout's GET shows, schedule included."""
    order = authorized(api, issuer, buyer, "A2003")["order"]
    captured = api.post(f"/v1/orders/{order['id']}/capture", {})
    assert captured.status_code == 200
    read = api.get(f"/v1/checkouts/{order['checkout_id']}").get_json()["order"]
    assert captured.get_json() == read
    assert captured.get_json()["state"] == "CAPTURED"
    assert len(captured.get_json()["schedule"]["installments"]) == 6


def test_public_url_sets_the_authorize_url(tmp_path: Any, merchant_key: Any) -> None:
    app = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
            "PUBLIC_URL": "https://issuer.example/",
            "MERCHANTS": [merchant_config(MERCHANT_ID, merchant_key, API_KEY)],
        }
    )
    api = SignedClient(app.test_client(), get_issuer(app), MERCHANT_ID, merchant_key)
    checkout = api.post("/v1/checkouts", checkout_body()).get_json()
    assert checkout["authorize_url"] == f"https://issuer.example/authorize/{checkout['id']}"


def test_find_by_out_trade_no_and_duplicates(api: SignedClient) -> None:
    created = api.post("/v1/checkouts", checkout_body()).get_json()
    assert api.get("/v1/checkouts?out_trade_no=A1001").get_json() == created
    assert api.get("/v1/checkouts?out_trade_no=NOPE").status_code == 404
    duplicate = api.post("/v1/checkouts", checkout_body())
    assert duplicate.status_code == 409
    assert duplicate.get_json()["code"] == "DUPLICATE_OUT_TRADE_NO"


def test_plan_subset_and_unavailable_plans(api: SignedClient) -> None:
    chosen = api.post(
        "/v1/checkouts", checkout_body(plans=["fenfu-12", "free-3", "free-3"])
    ).get_json()
    assert [p["plan_id"] for p in chosen["plans"]] == ["free-3", "fenfu-12"]
    unknown = api.post("/v1/checkouts", checkout_body("B1", plans=["nope"]))
    assert unknown.status_code == 400
    assert unknown.get_json()["code"] == "PLAN_NOT_AVAILABLE"
    too_small = api.post("/v1/checkouts", checkout_body("B2", amount=50))
    assert too_small.status_code == 400
    assert too_small.get_json()["code"] == "PLAN_NOT_AVAILABLE"


def test_quote_lists_plans_and_as_low_as(api: SignedClient, issuer: Issuer) -> None:
    answer = api.get("/v1/plans/quote?amount=12000&currency=CNY").get_json()
    expected = quote_plans(Money("120.00", "CNY"), STANDARD_OFFERS, start=issuer.now().date())
    assert answer["amount"] == cny(120_00)
    assert answer["plans"] == [q.to_json() for q in expected]
    assert answer["as_low_as"] == min(q.regular_payment for q in expected).to_json()
    lowercase = api.get("/v1/plans/quote?amount=12000&currency=cny").get_json()
    assert lowercase["amount"] == cny(120_00)


def test_quote_for_an_amount_nothing_covers(api: SignedClient) -> None:
    answer = api.get("/v1/plans/quote?amount=100&currency=CNY").get_json()
    assert answer == {"amount": cny(100), "plans": [], "as_low_as": None}
    usd = api.get("/v1/plans/quote?amount=12000&currency=USD").get_json()
    assert usd["plans"] == []
    assert usd["as_low_as"] is None


def test_eligibility_reveals_no_limit_or_balance(api: SignedClient, issuer: Issuer) -> None:
    buyer = issuer.create_buyer(limit=Money("777.77", "CNY"))
    answer = api.post(
        "/v1/credit/eligibility", {"buyer_token": buyer.buyer_token, "amount": cny(120_00)}
    ).get_json()
    assert set(answer) == {"eligible", "reasons", "plans"}
    assert answer["eligible"] is True
    assert answer["reasons"] == []
    assert len(answer["plans"]) >= 1
    assert "77777" not in str(answer)
    declined = api.post(
        "/v1/credit/eligibility", {"buyer_token": buyer.buyer_token, "amount": cny(800_00)}
    ).get_json()
    assert declined == {"eligible": False, "reasons": ["INSUFFICIENT_LIMIT"], "plans": []}


def test_eligibility_reports_every_reason_in_a_fixed_order(
    api: SignedClient, issuer: Issuer
) -> None:
    buyer = issuer.create_buyer(
        limit=Money("100.00", "CNY"),
        single_purchase_max=Money("50.00", "CNY"),
        status="FROZEN",
        overdue=True,
    )
    answer = api.post(
        "/v1/credit/eligibility", {"buyer_token": buyer.buyer_token, "amount": cny(60_000_00)}
    ).get_json()
    assert answer["reasons"] == [
        "ACCOUNT_FROZEN",
        "OVERDUE",
        "AMOUNT_OUT_OF_RANGE",
        "OVER_SINGLE_PURCHASE_LIMIT",
        "INSUFFICIENT_LIMIT",
    ]


def test_magic_tokens_decline_with_their_reason(api: SignedClient) -> None:
    for token, reason in (
        ("bt_decline_insufficient_limit", "INSUFFICIENT_LIMIT"),
        ("bt_decline_frozen", "ACCOUNT_FROZEN"),
        ("bt_decline_overdue", "OVERDUE"),
        ("bt_decline_over_single_purchase_limit", "OVER_SINGLE_PURCHASE_LIMIT"),
    ):
        answer = api.post(
            "/v1/credit/eligibility", {"buyer_token": token, "amount": cny(500_00)}
        ).get_json()
        assert answer == {"eligible": False, "reasons": [reason], "plans": []}, token


def test_unknown_buyer_token(api: SignedClient) -> None:
    response = api.post("/v1/credit/eligibility", {"buyer_token": "bt_nope", "amount": cny(1)})
    assert response.status_code == 404
    assert "bt_nope" not in response.get_json()["message"]


def _certificates(api: SignedClient) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = api.get("/v1/certificates").get_json()["data"]
    return data


def test_certificates_decrypt_to_the_keys_that_sign_responses(
    api: SignedClient, issuer: Issuer
) -> None:
    (cert,) = _certificates(api)
    assert cert["algorithm"] == "PAYLATER-ED25519"
    assert cert["expire_time"] is None
    key = load_public_key(decrypt_resource(cert["encrypt_certificate"], API_KEY.encode()))
    assert serial_for(key) == cert["serial_no"]
    response = api.get("/v1/certificates")
    assert response.headers["Paylater-Serial"] == cert["serial_no"]


def test_key_rotation_keeps_the_old_key_published_for_24_hours(
    api: SignedClient, issuer: Issuer
) -> None:
    (old,) = _certificates(api)
    old_ring = issuer.signing_keyring()
    new_serial = issuer.rotate_signing_key("rsa")
    certs = {c["serial_no"]: c for c in _certificates(api)}
    assert set(certs) == {old["serial_no"], new_serial}
    assert certs[old["serial_no"]]["expire_time"] is not None
    assert certs[new_serial]["algorithm"] == "PAYLATER-SHA256-RSA2048"
    response = api.get("/v1/certificates")
    assert response.headers["Paylater-Serial"] == new_serial
    # a merchant that has not refreshed yet cannot verify the new key's signature ...
    with pytest.raises(UnknownKeyError):
        verify_response(
            response.headers,
            response.get_data(),
            keyring=old_ring,
            nonce_store=InMemoryNonceStore(),
        )
    # ... and the old key stays in the published key ring meanwhile
    assert old["serial_no"] in issuer.signing_keyring()


def test_a_rotation_by_another_process_is_picked_up(
    api: SignedClient, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = issuer.response_signer().serial
    other_process = keystore.IssuerKeys(issuer.engine)
    new_serial = other_process.rotate("ed25519")
    assert issuer.response_signer().serial == before  # cached for a few seconds
    monkeypatch.setattr(keystore, "SIGNER_RECHECK", 0.0)
    assert issuer.response_signer().serial == new_serial
    assert api.get("/v1/certificates").headers["Paylater-Serial"] == new_serial


def test_prefixes_narrowed_elsewhere_apply_within_the_ttl_and_here_at_once(
    api: SignedClient, issuer: Issuer, merchant_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout's URLs are checked against prefixes cached for ``KEYRING_TTL`` seconds:
    narrowed by another process they apply once the copy is that old, by this one at once."""
    assert api.post("/v1/checkouts", checkout_body("P1")).status_code == 201  # now cached
    narrowed = {
        **merchant_config(MERCHANT_ID, merchant_key, API_KEY),
        "notify_prefixes": ["https://shop.example/paylater/"],
    }
    narrowed.pop("id")
    MerchantRegistry(issuer.engine).add(MERCHANT_ID, **narrowed)  # "another process"
    clock = [merchants.time.monotonic()]
    monkeypatch.setattr(merchants.time, "monotonic", lambda: clock[0])
    assert api.post("/v1/checkouts", checkout_body("P2")).status_code == 201  # the cached copy
    clock[0] += merchants.KEYRING_TTL
    refused = api.post("/v1/checkouts", checkout_body("P3"))
    assert (refused.status_code, refused.get_json()["code"]) == (400, "URL_NOT_ALLOWED")
    assert "notify_url" in refused.get_json()["message"]
    widened = {**narrowed, "notify_prefixes": ["https://shop.example/"]}
    issuer.merchants.add(MERCHANT_ID, **widened)  # this process: no wait
    assert api.post("/v1/checkouts", checkout_body("P4")).status_code == 201
    unknown = issuer.merchant_prefixes("m_nobody")
    assert unknown is None


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        (
            "/v1/credit/eligibility",
            b'{"buyer_token": "bt_\\ud800", "amount": {"value": 1, "currency": "CNY"}}',
        ),
        ("/v1/checkouts", b'{"out_trade_no": "A1", "description": "\\udcff"}'),
        ("/v1/checkouts", b'{"\\ud83d": 1}'),
    ],
)
def test_a_lone_surrogate_is_a_400_not_a_500(api: SignedClient, path: str, raw: bytes) -> None:
    """JSON can escape a lone surrogate in; it cannot be stored or logged as UTF-8."""
    response = api.post(path, raw=raw)
    assert response.status_code == 400
    assert response.get_json()["code"] == "INVALID_JSON"
    assert "surrogate" in response.get_json()["message"]
