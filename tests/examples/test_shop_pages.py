"""Shop pages against a scripted client: configuration, CSRF, server-side amounts, escaping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from examples.merchant_flask import create_app, store
from paylater_sdk.errors import ConfigurationError
from paylater_sdk.money import Money
from tests._support.shop_fakes import FakeClient, checkout_json, csrf_of

BASE = {
    "SECRET_KEY": "test-secret-key-0123456789",
    "ADMIN_PASSWORD": "admin-password",
}


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"ADMIN_PASSWORD": "admin-password"}, "SECRET_KEY is required"),
        ({"SECRET_KEY": "test-secret-key-0123456789"}, "ADMIN_PASSWORD is required"),
        ({**BASE, "SECRET_KEY": "short"}, "SECRET_KEY is required"),
        (BASE, "PAYLATER_BASE_URL, PAYLATER_MERCHANT_ID, PAYLATER_PRIVATE_KEY"),
    ],
    ids=["no-secret-key", "no-admin-password", "short-secret", "no-keys"],
)
def test_refuses_to_start_without_secrets(
    tmp_path: Path, config: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        create_app({**config, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})


def test_reads_shop_environment_variables_when_no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_SECRET_KEY", "test-secret-key-0123456789")
    monkeypatch.delenv("SHOP_ADMIN_PASSWORD", raising=False)
    with pytest.raises(ConfigurationError, match="ADMIN_PASSWORD"):
        create_app()


def test_catalogue_and_product_show_as_low_as(fake_shop: Any) -> None:
    client = fake_shop.test_client()
    index = client.get("/")
    assert index.status_code == 200
    assert "青瓷茶具套装" in index.text
    assert "Celadon tea set" in index.text
    page = client.get("/products/headphones")
    assert page.status_code == 200
    # The fake prices 6 periods at ceil(amount * 1.03 / 6): 1299.00 -> 223.00
    assert 'data-as-low-as-minor="22300"' in page.text
    assert "低至 <strong>¥223.00/月</strong> 用分付" in page.text
    assert client.get("/products/nope").status_code == 404


def test_post_without_or_with_a_wrong_csrf_token_is_refused(fake_shop: Any) -> None:
    client = fake_shop.test_client()
    client.get("/")
    no_token = client.post("/cart/add", data={"product_id": "tea-set"})
    wrong = client.post("/cart/add", data={"product_id": "tea-set", "csrf_token": "x" * 43})
    assert no_token.status_code == wrong.status_code == 400
    assert "form expired" in no_token.text
    assert "tea-set" not in client.get("/cart").text.replace("青瓷", "")  # cart stayed empty
    assert "Your cart is empty" in client.get("/cart").text


def _cart(client: Any, *items: tuple[str, str]) -> str:
    token = csrf_of(client.get("/").text)
    for product_id, quantity in items:
        answer = client.post(
            "/cart/add",
            # A tampered form cannot set prices: unknown fields are simply ignored.
            data={
                "csrf_token": token,
                "product_id": product_id,
                "quantity": quantity,
                "price": "0.01",
                "amount": "1",
            },
        )
        assert answer.status_code == 303
    return token


def test_checkout_amount_comes_from_the_catalogue_not_the_form(
    fake_shop: Any, fake_client: FakeClient
) -> None:
    client = fake_shop.test_client()
    token = _cart(client, ("tea-set", "2"), ("backpack", "1"))
    page = client.get("/checkout")
    assert page.status_code == 200
    assert 'data-total-minor="152790"' in page.text  # 2 x 599.00 + 329.90
    assert "APR</abbr> 12.35%" in page.text
    answer = client.post(
        "/checkout/pay",
        data={"csrf_token": token, "plan_id": "fenfu-6", "amount": "1", "value": "1"},
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == "http://issuer.test/authorize/co_test1"
    [created] = fake_client.created
    assert created["amount"] == Money("1527.90", "CNY")
    assert created["plans"] == ["fenfu-6"]
    assert created["notify_url"] == "http://shop.test/pay/notify"
    assert created["return_url"] == "http://shop.test/pay/return"
    assert created["idempotency_key"] == f"checkout-{created['out_trade_no']}"
    row = store.get_order(fake_shop.extensions["shop"]["engine"], created["out_trade_no"])
    assert row is not None
    assert (row["state"], row["checkout_id"], row["amount_minor"]) == (
        "CREATED",
        "co_test1",
        152790,
    )
    assert {ln["product_id"]: ln["quantity"] for ln in row["lines"]} == {
        "tea-set": 2,
        "backpack": 1,
    }
    assert "Your cart is empty" in client.get("/cart").text


def test_quantities_are_clamped_and_validated(fake_shop: Any) -> None:
    client = fake_shop.test_client()
    token = _cart(client, ("tea-set", "50"))
    assert 'data-total-minor="539100"' in client.get("/cart").text  # 9 x 599.00
    bad = client.post(
        "/cart/add", data={"csrf_token": token, "product_id": "tea-set", "quantity": "1.5"}
    )
    assert bad.status_code == 400
    unknown = client.post(
        "/cart/add", data={"csrf_token": token, "product_id": "gold", "quantity": "1"}
    )
    assert unknown.status_code == 404
    client.post(
        "/cart/update", data={"csrf_token": token, "product_id": "tea-set", "quantity": "0"}
    )
    assert "Your cart is empty" in client.get("/cart").text


def test_pay_refuses_a_plan_that_was_not_quoted(fake_shop: Any, fake_client: FakeClient) -> None:
    client = fake_shop.test_client()
    token = _cart(client, ("tea-set", "1"))
    answer = client.post("/checkout/pay", data={"csrf_token": token, "plan_id": "fenfu-99"})
    assert answer.status_code == 400
    assert "choose one of the plans" in answer.text
    assert fake_client.created == []


def test_ineligible_buyer_is_stopped_before_leaving_the_shop(
    fake_shop: Any, fake_client: FakeClient
) -> None:
    client = fake_shop.test_client()
    token = _cart(client, ("tea-set", "1"))
    page = client.post(
        "/checkout/eligibility",
        data={"csrf_token": token, "buyer_token": "bt_decline_insufficient_limit"},
        follow_redirects=True,
    )
    assert 'data-eligible="false"' in page.text
    assert 'data-reason="INSUFFICIENT_LIMIT"' in page.text
    answer = client.post("/checkout/pay", data={"csrf_token": token, "plan_id": "fenfu-6"})
    assert answer.status_code == 402
    assert fake_client.created == []


def test_buyer_input_is_escaped(fake_shop: Any) -> None:
    client = fake_shop.test_client()
    token = _cart(client, ("tea-set", "1"))
    page = client.post(
        "/checkout/eligibility",
        data={"csrf_token": token, "buyer_token": '"><script>alert(1)</script>'},
        follow_redirects=True,
    )
    assert "<script>alert(1)</script>" not in page.text
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_return_page_asks_the_issuer_and_hides_other_peoples_orders(
    fake_shop: Any, fake_client: FakeClient
) -> None:
    client = fake_shop.test_client()
    token = _cart(client, ("tea-set", "1"))
    client.post("/checkout/pay", data={"csrf_token": token, "plan_id": "fenfu-6"})
    no = fake_client.created[0]["out_trade_no"]
    # The redirect says nothing trustworthy; the issuer says the buyer authorized.
    fake_client.truth["co_test1"] = checkout_json(no, 59900, state="AUTHORIZED")
    answer = client.get(f"/pay/return?checkout_id=co_forged&out_trade_no={no}")
    assert answer.status_code == 303
    assert ("get", "co_test1") in fake_client.calls  # the stored id, not the query's
    page = client.get(answer.headers["Location"])
    assert 'data-state="AUTHORIZED"' in page.text
    stranger = fake_shop.test_client()
    assert stranger.get(f"/orders/{no}").status_code == 404
    assert stranger.get(f"/pay/return?out_trade_no={no}").status_code == 404


def test_admin_needs_the_password(fake_shop: Any) -> None:
    client = fake_shop.test_client()
    assert client.get("/admin/").status_code == 401
    assert client.get("/admin/", auth=("admin", "wrong")).status_code == 401
    page = client.get("/admin/", auth=("admin", "admin-password"))
    assert page.status_code == 200
    assert "No orders" in page.text
    assert client.get("/admin/?state=BOGUS", auth=("admin", "admin-password")).status_code == 400


def test_security_headers_and_cookie(fake_shop: Any) -> None:
    client = fake_shop.test_client()
    page = client.get("/")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    cookie = page.headers["Set-Cookie"]
    # Not "session": on one host the issuer's cookie would overwrite the shop's.
    assert cookie.startswith("shop_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_serve_command_refuses_to_start_without_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from examples.merchant_flask.__main__ import serve

    for name in ("SHOP_SECRET_KEY", "SHOP_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(serve, ["--port", "8123"])
    assert result.exit_code == 1
    assert "SECRET_KEY is required" in result.output
    assert "Traceback" not in result.output


def test_environment_configuration_with_all_digit_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from paylater_sdk.signing import generate_private_key, private_key_pem

    key_path = tmp_path / "merchant.pem"
    key_path.write_bytes(private_key_pem(generate_private_key("ed25519")))
    env = {
        "SHOP_SECRET_KEY": "12345678901234567890",
        "SHOP_ADMIN_PASSWORD": "87654321",
        "SHOP_PAYLATER_BASE_URL": "http://127.0.0.1:9",
        "SHOP_PAYLATER_MERCHANT_ID": "mch_env",
        "SHOP_PAYLATER_PRIVATE_KEY": str(key_path),
        "SHOP_PAYLATER_API_KEY": "1" * 32,
        "SHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'env.sqlite3'}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    try:
        assert app.config["SECRET_KEY"] == "12345678901234567890"
        assert app.test_client().get("/admin/", auth=("admin", "87654321")).status_code == 200
        assert "1" * 32 not in repr(app.extensions["shop"]["client"])  # no secrets in repr
    finally:
        app.extensions["shop"]["engine"].dispose()
