"""The v3 face in-process (Flask test client): the error table, compatibility mode, key
modes on answers and callbacks, faults, and the test controls."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from wechatpayv3.utils import build_authorization

from paylater_sdk.errors import ConflictError, NotFoundError
from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.issuer.delivery import wechat as v3_delivery
from paylater_sdk.issuer.storage.schema import notifications
from paylater_sdk.issuer.web.wechat.errors import V3_CODES, V3_ERRORS, v3_answer
from paylater_sdk.issuer.web.wire import ERROR_STATUS
from paylater_sdk.signing import (
    WECHATPAY_V3,
    InMemoryNonceStore,
    KeyRing,
    generate_private_key,
    keyring_add_certificate,
    load_public_key,
    open_notification,
    serial_for,
    verify_response,
)
from tests._support.issuer import API_KEY, MERCHANT_ID, database_url, merchant_config


@pytest.fixture
def rsa_key() -> Any:
    return generate_private_key("rsa")


@pytest.fixture
def compat_app(tmp_path: Any, rsa_key: Any) -> Iterator[Flask]:
    app = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": database_url(tmp_path),
            "MERCHANTS": [merchant_config(MERCHANT_ID, rsa_key, API_KEY)],
            "WECHAT_COMPAT": True,
            "WECHAT_KEY_MODE": "certificate",
            "NOTIFY_TRANSPORT": lambda url, headers, body, timeout: 204,
        }
    )
    yield app
    get_issuer(app).engine.dispose()


def _get(app: Flask, key: Any, path: str, mchid: str = MERCHANT_ID) -> Any:
    auth = build_authorization(path, "GET", mchid, serial_for(key), key)
    return app.test_client().get(path, headers={"Authorization": auth})


def _post(app: Flask, key: Any, path: str, body: dict[str, Any]) -> Any:
    raw = json.dumps(body)
    auth = build_authorization(path, "POST", MERCHANT_ID, serial_for(key), key, data=raw)
    return app.test_client().post(
        path, data=raw, headers={"Authorization": auth, "Content-Type": "application/json"}
    )


def test_every_domain_code_has_a_v3_answer() -> None:
    assert set(ERROR_STATUS) <= set(V3_ERRORS)
    assert {code for _, code in V3_ERRORS.values()} <= set(V3_CODES)
    assert v3_answer(ConflictError("x", code="AMOUNT_EXCEEDS_AVAILABLE")) == (
        400,
        {"code": "INVALID_REQUEST", "message": "x"},
    )
    assert v3_answer(NotFoundError("gone"))[1]["code"] == "RESOURCE_NOT_EXISTS"  # type: ignore[index]


def test_compat_mode_lets_a_v1_merchant_in_and_signs_with_the_certificate(
    compat_app: Flask, rsa_key: Any
) -> None:
    answer = _get(compat_app, rsa_key, "/v3/certificates")
    assert answer.status_code == 200
    platform = compat_app.test_client().get("/v3/sandbox/test/platform").get_json()
    serial = platform["certificates"][0]["serial_no"]
    assert answer.headers["Wechatpay-Serial"] == serial
    assert answer.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert answer.headers["Request-ID"].startswith("req_")
    ring = KeyRing()
    keyring_add_certificate(ring, platform["certificates"][0]["certificate"])
    assert verify_response(answer.headers, answer.get_data(), keyring=ring, profile=WECHATPAY_V3)
    [item] = answer.get_json()["data"]
    assert item["serial_no"] == serial
    assert item["encrypt_certificate"]["associated_data"] == "certificate"
    assert item["effective_time"].endswith("+08:00")


def test_without_compat_a_v1_merchant_is_refused(app: Flask, merchant_key: Any) -> None:
    answer = app.test_client().get(
        "/v3/certificates",
        headers={"Authorization": 'WECHATPAY2-SHA256-RSA2048 mchid="m_test",serial_no="x"'},
    )
    assert answer.status_code == 401
    assert answer.get_json()["code"] == "SIGN_ERROR"
    assert "Wechatpay-Signature" in answer.headers  # errors are signed too


def test_unknown_paths_and_methods_answer_in_v3_shape(compat_app: Flask) -> None:
    missing = compat_app.test_client().get("/v3/no/such/thing")
    assert missing.status_code == 404
    assert missing.get_json()["code"] == "RESOURCE_NOT_EXISTS"
    wrong = compat_app.test_client().delete("/v3/certificates")
    assert wrong.status_code == 405
    assert wrong.get_json()["code"] == "INVALID_REQUEST"


def test_an_injected_500_is_a_signed_system_error(compat_app: Flask, rsa_key: Any) -> None:
    get_issuer(compat_app).inject_fault("error_500", path_prefix="/v3/certificates")
    answer = _get(compat_app, rsa_key, "/v3/certificates")
    assert answer.status_code == 500
    assert answer.get_json()["code"] == "SYSTEM_ERROR"
    assert answer.headers["Wechatpay-Serial"]


def _pay(app: Flask, key: Any, limit: int = 10_000_00, total: int = 500_00) -> dict[str, Any]:
    client = app.test_client()
    buyer = client.post("/_test/buyers", json={"limit": {"value": limit, "currency": "CNY"}})
    openid = client.post("/v3/sandbox/test/payers", json={"buyer_id": buyer.get_json()["id"]})
    body = {
        "appid": "wx1", "mchid": MERCHANT_ID, "description": "d", "out_trade_no": "FACE00001",
        "notify_url": "https://shop.example/notify", "amount": {"total": total},
        "payer": {"openid": openid.get_json()["openid"]},
    }  # fmt: skip
    prepay = _post(app, key, "/v3/pay/transactions/jsapi", body)
    assert prepay.status_code == 200, prepay.get_data()
    paid = client.post(
        "/v3/sandbox/test/pay",
        json={"prepay_id": prepay.get_json()["prepay_id"], "installment_num": 6},
    )
    return {"status": paid.status_code, "body": paid.get_json()}


def test_a_declined_test_payment_is_not_enough(compat_app: Flask, rsa_key: Any) -> None:
    paid = _pay(compat_app, rsa_key, limit=100_00)
    assert paid["status"] == 403
    assert paid["body"]["code"] == "NOT_ENOUGH"


def test_the_callback_is_sealed_in_the_merchants_key_mode(compat_app: Flask, rsa_key: Any) -> None:
    assert _pay(compat_app, rsa_key)["status"] == 200
    issuer = get_issuer(compat_app)
    with issuer.engine.connect() as conn:
        row = conn.execute(sa.select(notifications)).mappings().one()
    sealed = v3_delivery.seal(issuer.engine, row)  # what the delivery worker sends
    assert sealed is not None
    headers, body = sealed
    platform = compat_app.test_client().get("/v3/sandbox/test/platform").get_json()
    assert headers["Wechatpay-Serial"] == platform["certificates"][0]["serial_no"]
    ring = KeyRing()
    ring.add(load_public_key(platform["public_key"]), serial=headers["Wechatpay-Serial"])
    note = open_notification(
        headers, body, api_key=API_KEY, keyring=ring, nonce_store=InMemoryNonceStore(),
        profile=WECHATPAY_V3,
    )  # fmt: skip
    assert note.event_type == "TRANSACTION.SUCCESS"
    assert note.original_type == "transaction"
    assert note.resource["trade_state"] == "SUCCESS"
    assert note.create_time.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]
    assert issuer.deliver_pending() == 1


def test_every_code_the_v3_face_raises_is_in_its_table() -> None:
    from pathlib import Path

    import paylater_sdk.issuer as pkg

    root = Path(pkg.__file__).parent
    pattern = re.compile(r'code=(?:"([A-Z][A-Z0-9_]+)"|([A-Z][A-Z0-9_]+)\b)|v3_error\(\d+, "(\w+)"')
    found = set()
    for folder in (root / "domain" / "wechat", root / "web" / "wechat"):
        for path in folder.glob("*.py"):
            for match in pattern.findall(path.read_text()):
                found.update(m for m in match if m)
    assert {"PARAM_ERROR", "ORDER_NOT_EXIST", "SIGN_ERROR", "CREDIT_DECLINED"} <= found
    assert found - set(V3_ERRORS) == set()


def test_a_live_issuer_has_no_sandbox_page(app: Flask) -> None:
    live = create_app({"SECRET_KEY": "s" * 32, "DATABASE_URL": _url(app)})
    assert live.test_client().get("/v3/sandbox/pay?prepay_id=x").status_code == 404
    assert live.test_client().get("/v3/sandbox/test/platform").status_code == 404
    get_issuer(live).engine.dispose()


def _url(app: Flask) -> str:
    return get_issuer(app).engine.url.render_as_string(hide_password=False)


def test_a_refused_callback_is_retried_on_the_wechat_schedule(tmp_path: Any, rsa_key: Any) -> None:
    answers = [500, 204]
    calls: list[str] = []

    def transport(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        calls.append(json.loads(body)["event_type"])
        return answers.pop(0)

    app = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": database_url(tmp_path),
            "MERCHANTS": [merchant_config(MERCHANT_ID, rsa_key, API_KEY)],
            "WECHAT_COMPAT": True,
            "NOTIFY_TRANSPORT": transport,
        }
    )
    issuer = get_issuer(app)
    try:
        assert _pay(app, rsa_key)["status"] == 200
        assert issuer.deliver_pending() == 1
        assert issuer.deliver_pending() == 0  # the next attempt is 15 s away
        issuer.advance_clock(15)
        assert issuer.deliver_pending() == 1
        assert calls == ["TRANSACTION.SUCCESS", "TRANSACTION.SUCCESS"]
        with issuer.engine.connect() as conn:
            state = conn.execute(sa.select(notifications.c.state)).scalar_one()
        assert state == "DELIVERED"
    finally:
        issuer.engine.dispose()
