"""The consent page, driven like a browser without JavaScript (Flask's test client)."""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.issuer.web.consent import decline_message, format_money, format_rate
from paylater_sdk.money import Money
from paylater_sdk.signing import generate_private_key, public_key_pem

API_KEY = "0123456789abcdef0123456789ABCDEF"
RETURN_URL = "https://shop.example/return?lang=zh"


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    key = generate_private_key("ed25519")
    return create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'issuer.db'}",
            "MERCHANTS": [
                {
                    "id": "m1",
                    "name": "喵喵咖啡 Meow Coffee",
                    "public_keys": [public_key_pem(key).decode()],
                    "api_key": API_KEY,
                    "notify_prefixes": ["https://shop.example/"],
                    "return_prefixes": ["https://shop.example/"],
                }
            ],
        }
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _checkout(
    app: Flask, *, amount: int = 120_00, description: str = "Latte x 2", **kw: Any
) -> str:
    issuer = get_issuer(app)
    checkout = issuer.orders.create_checkout(
        "m1",
        out_trade_no=kw.pop("out_trade_no", "A1001"),
        amount=Money.from_minor(amount, "CNY"),
        description=description,
        notify_url="https://shop.example/paylater/notify",
        return_url=RETURN_URL,
        plan_ids=None,
        expires_in=None,
        base_url="http://issuer.test",
    )
    checkout_id: str = checkout["id"]
    return checkout_id


def _buyer(app: Flask, limit: int = 10_000_00) -> Any:
    return get_issuer(app).create_buyer(limit=Money.from_minor(limit, "CNY"))


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no csrf_token field"
    return match.group(1)


def _signin(client: FlaskClient, checkout_id: str, phone: str, code: str = "123456") -> Any:
    page = client.get(f"/authorize/{checkout_id}")
    return client.post(
        f"/authorize/{checkout_id}",
        data={"csrf_token": _csrf(page.text), "step": "signin", "phone": phone, "code": code},
    )


def _state(app: Flask, checkout_id: str) -> str:
    state: str = get_issuer(app).orders.get_checkout("m1", checkout_id)["state"]
    return state


# --- showing the page ------------------------------------------------------------------


def test_get_shows_the_order_and_a_sign_in_form(app: Flask, client: FlaskClient) -> None:
    checkout_id = _checkout(app)
    response = client.get(f"/authorize/{checkout_id}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.text
    assert "喵喵咖啡 Meow Coffee" in html
    assert "¥120.00" in html
    assert "Latte x 2" in html
    assert 'name="step" value="signin"' in html
    assert 'name="phone"' in html
    assert 'name="code"' in html
    assert len(_csrf(html)) >= 32
    assert "<script" not in html
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self' https://shop.example" in csp
    assert "script-src" not in csp  # default-src 'none' forbids scripts
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_output_is_escaped(app: Flask, client: FlaskClient) -> None:
    checkout_id = _checkout(app, description='<script>alert("x")</script>')
    html = client.get(f"/authorize/{checkout_id}").text
    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


@pytest.mark.parametrize("checkout_id", ["co_doesnotexist", "co_%3Cscript%3E", "x" * 65])
def test_unknown_or_malformed_ids_are_404(client: FlaskClient, checkout_id: str) -> None:
    response = client.get(f"/authorize/{checkout_id}")
    assert response.status_code == 404
    assert "Checkout not found" in response.text
    assert "<script>" not in response.text


def test_an_expired_checkout_is_gone(app: Flask, client: FlaskClient) -> None:
    checkout_id = _checkout(app)
    get_issuer(app).advance_clock(1801)
    response = client.get(f"/authorize/{checkout_id}")
    assert response.status_code == 410
    assert "expired" in response.text
    assert 'href="https://shop.example/return?lang=zh"' in response.text


# --- CSRF ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "forged-token-forged-token-forged-token"])
def test_posts_without_the_session_csrf_token_are_refused(
    app: Flask, client: FlaskClient, token: str | None
) -> None:
    checkout_id = _checkout(app)
    buyer = _buyer(app)
    client.get(f"/authorize/{checkout_id}")  # a session exists, with its own token
    data = {"step": "signin", "phone": buyer.phone, "code": "123456"}
    if token is not None:
        data["csrf_token"] = token
    response = client.post(f"/authorize/{checkout_id}", data=data)
    assert response.status_code == 403
    assert 'name="plan_id"' not in response.text


def test_a_token_from_another_session_is_refused(app: Flask) -> None:
    checkout_id = _checkout(app)
    buyer = _buyer(app)
    attacker, victim = app.test_client(), app.test_client()
    token = _csrf(attacker.get(f"/authorize/{checkout_id}").text)
    victim.get(f"/authorize/{checkout_id}")
    response = victim.post(
        f"/authorize/{checkout_id}",
        data={"csrf_token": token, "step": "signin", "phone": buyer.phone, "code": "123456"},
    )
    assert response.status_code == 403


# --- signing in ------------------------------------------------------------------------


def test_sign_in_shows_every_offered_plan_with_its_disclosure(
    app: Flask, client: FlaskClient
) -> None:
    checkout_id = _checkout(app)
    buyer = _buyer(app)
    before = _csrf(client.get(f"/authorize/{checkout_id}").text)
    response = client.post(
        f"/authorize/{checkout_id}",
        data={"csrf_token": before, "step": "signin", "phone": buyer.phone, "code": "123456"},
    )
    assert response.status_code == 200
    html = response.text
    assert _csrf(html) != before  # a fresh token after authentication
    plans = get_issuer(app).orders.consent_view(checkout_id)["plans"]
    assert plans, "the standard catalogue offers plans for ¥120"
    assert re.findall(r'name="plan_id" value="([^"]+)"', html) == [p.plan_id for p in plans]
    for plan in plans:
        assert format_money(plan.regular_payment) in html
        assert format_money(plan.total_cost) in html
        assert format_rate(plan.apr) in html
        assert format_rate(plan.effective_annual_rate) in html
    assert 'name="step" value="confirm"' in html


@pytest.mark.parametrize(
    ("phone", "code", "status"),
    [
        ("13800000000", "123456", 401),  # nobody has this phone
        (None, "654321", 401),  # the buyer's phone, wrong code
        ("not-a-phone", "123456", 400),
        (None, "12", 400),
        (None, "", 400),
    ],
)
def test_bad_sign_ins_show_one_message_and_no_plans(
    app: Flask, client: FlaskClient, phone: str | None, code: str, status: int
) -> None:
    checkout_id = _checkout(app)
    buyer = _buyer(app)
    response = _signin(client, checkout_id, phone or buyer.phone, code)
    assert response.status_code == status
    assert "The phone number or the code is wrong." in response.text
    assert 'name="plan_id"' not in response.text


# --- confirming ------------------------------------------------------------------------


def test_confirm_places_the_hold_redirects_and_notifies(app: Flask, client: FlaskClient) -> None:
    checkout_id = _checkout(app)
    buyer = _buyer(app)
    page = _signin(client, checkout_id, buyer.phone)
    plan_id = re.findall(r'name="plan_id" value="([^"]+)"', page.text)[-1]
    response = client.post(
        f"/authorize/{checkout_id}",
        data={"csrf_token": _csrf(page.text), "step": "confirm", "plan_id": plan_id},
    )
    assert response.status_code == 303
    target = urlsplit(response.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "shop.example", "/return")
    assert parse_qs(target.query) == {
        "lang": ["zh"],
        "checkout_id": [checkout_id],
        "out_trade_no": ["A1001"],
    }
    issuer = get_issuer(app)
    checkout = issuer.orders.get_checkout("m1", checkout_id)
    assert checkout["state"] == "AUTHORIZED"
    assert checkout["order"]["plan"]["plan_id"] == plan_id
    assert issuer.check_ledger() == []
    from paylater_sdk.issuer.delivery.outbox import delivery_log

    with issuer.engine.connect() as conn:
        [event] = delivery_log(conn)
    assert event["event_type"] == "CHECKOUT.AUTHORIZED"
    assert event["notify_url"] == "https://shop.example/paylater/notify"
    # The page is done: coming back shows that, not the form.
    again = client.get(f"/authorize/{checkout_id}")
    assert again.status_code == 409
    assert "already been confirmed" in again.text


@pytest.mark.parametrize(
    ("phone", "reason"),
    [
        ("19900000001", "INSUFFICIENT_LIMIT"),
        ("19900000002", "ACCOUNT_FROZEN"),
        ("19900000003", "OVERDUE"),
        ("19900000004", "OVER_SINGLE_PURCHASE_LIMIT"),
    ],
)
def test_a_decline_shows_the_reason_in_plain_words(
    app: Flask, client: FlaskClient, phone: str, reason: str
) -> None:
    checkout_id = _checkout(app)
    page = _signin(client, checkout_id, phone)
    assert page.status_code == 200
    plan_id = re.findall(r'name="plan_id" value="([^"]+)"', page.text)[0]
    response = client.post(
        f"/authorize/{checkout_id}",
        data={"csrf_token": _csrf(page.text), "step": "confirm", "plan_id": plan_id},
    )
    assert response.status_code == 200
    match = re.search(r'<p class="decline" data-reason="([A-Z_]+)"[^>]*>(.*?)</p>', response.text)
    assert match, response.text
    assert match.group(1) == reason
    chinese, english = decline_message(reason)
    assert chinese in match.group(2)
    assert english in match.group(2)
    assert _state(app, checkout_id) == "CREATED"
    assert get_issuer(app).check_ledger() == []


def test_a_plan_that_was_not_offered_is_refused(app: Flask, client: FlaskClient) -> None:
    checkout_id = _checkout(app)
    page = _signin(client, checkout_id, _buyer(app).phone)
    response = client.post(
        f"/authorize/{checkout_id}",
        data={"csrf_token": _csrf(page.text), "step": "confirm", "plan_id": "fenfu-999"},
    )
    assert response.status_code == 400
    assert "Please choose one of the plans." in response.text
    assert _state(app, checkout_id) == "CREATED"


def test_confirm_needs_a_sign_in_for_this_checkout(app: Flask, client: FlaskClient) -> None:
    first = _checkout(app, out_trade_no="A1")
    second = _checkout(app, out_trade_no="A2")
    page = _signin(client, first, _buyer(app).phone)
    plan_id = re.findall(r'name="plan_id" value="([^"]+)"', page.text)[0]
    response = client.post(
        f"/authorize/{second}",
        data={"csrf_token": _csrf(page.text), "step": "confirm", "plan_id": plan_id},
    )
    assert response.status_code == 401
    assert "Please sign in first." in response.text
    assert _state(app, second) == "CREATED"


def test_confirm_after_the_checkout_expired_does_not_authorize(
    app: Flask, client: FlaskClient
) -> None:
    checkout_id = _checkout(app)
    page = _signin(client, checkout_id, _buyer(app).phone)
    plan_id = re.findall(r'name="plan_id" value="([^"]+)"', page.text)[0]
    get_issuer(app).advance_clock(1801)
    response = client.post(
        f"/authorize/{checkout_id}",
        data={"csrf_token": _csrf(page.text), "step": "confirm", "plan_id": plan_id},
    )
    assert response.status_code == 410
    assert _state(app, checkout_id) == "EXPIRED"


def test_cancel_goes_back_without_authorizing(app: Flask, client: FlaskClient) -> None:
    checkout_id = _checkout(app)
    page = client.get(f"/authorize/{checkout_id}")
    response = client.post(
        f"/authorize/{checkout_id}", data={"csrf_token": _csrf(page.text), "step": "cancel"}
    )
    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["checkout_id"] == [checkout_id]
    assert query["out_trade_no"] == ["A1001"]
    assert _state(app, checkout_id) == "CREATED"


def test_an_unknown_step_is_a_bad_request(app: Flask, client: FlaskClient) -> None:
    checkout_id = _checkout(app)
    page = client.get(f"/authorize/{checkout_id}")
    response = client.post(
        f"/authorize/{checkout_id}", data={"csrf_token": _csrf(page.text), "step": "pay"}
    )
    assert response.status_code == 400
    assert _state(app, checkout_id) == "CREATED"


# --- formatting helpers ----------------------------------------------------------------


def test_format_money_is_exact() -> None:
    assert format_money(Money.from_minor(123456789, "CNY")) == "¥1,234,567.89"
    assert format_money(Money.from_minor(5, "CNY")) == "¥0.05"
    assert format_money(Money.from_minor(1200, "JPY")) == "1,200 JPY"


def test_format_rate_shows_a_percentage() -> None:
    assert format_rate(Decimal("0.1235")) == "12.35%"
    assert format_rate("0") == "0.00%"
    assert format_rate(None) == "-"


def test_unknown_reasons_get_a_generic_message() -> None:
    assert decline_message("SOMETHING_NEW") == decline_message(None)
    assert "available credit" in decline_message("INSUFFICIENT_LIMIT")[1]


def test_the_session_cookie_is_http_only_and_same_site(app: Flask, client: FlaskClient) -> None:
    checkout_id = _checkout(app)
    response = client.get(f"/authorize/{checkout_id}")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_the_test_code_hint_shows_in_test_mode_only(app: Flask, tmp_path: Path) -> None:
    checkout_id = _checkout(app)
    assert "123456" in app.test_client().get(f"/authorize/{checkout_id}").text
    live = create_app(
        {
            "SECRET_KEY": "s" * 32,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'issuer.db'}",  # the same database
        }
    )
    html = live.test_client().get(f"/authorize/{checkout_id}").text
    assert 'name="phone"' in html
    assert "123456" not in html


_text = st.text(max_size=40)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    step=st.one_of(st.sampled_from(["signin", "confirm", "cancel"]), _text),
    phone=_text,
    code=_text,
    plan_id=_text,
    keep_token=st.booleans(),
    checkout_suffix=st.sampled_from(["", "x", "%00", "/../x"]),
)
def test_no_form_input_yields_a_5xx(
    app: Flask,
    step: str,
    phone: str,
    code: str,
    plan_id: str,
    keep_token: bool,
    checkout_suffix: str,
) -> None:
    checkout_id = _checkout(app, out_trade_no=f"F{secrets.token_hex(6)}")
    client = app.test_client()
    token = _csrf(client.get(f"/authorize/{checkout_id}").text)
    data = {"step": step, "phone": phone, "code": code, "plan_id": plan_id}
    if keep_token:
        data["csrf_token"] = token
    response = client.post(f"/authorize/{checkout_id}{checkout_suffix}", data=data)
    assert response.status_code < 500
    assert _state(app, checkout_id) == "CREATED"


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://shop.example/return?x=1", "https://shop.example"),
        ("http://127.0.0.1:5000/r", "http://127.0.0.1:5000"),
        ("javascript:alert(1)", None),
        ("https://a;script-src *.evil/x", None),
        ("https://user@shop.example/", None),
        ("ftp://shop.example/", None),
    ],
)
def test_only_plain_http_origins_reach_the_csp_or_a_redirect(url: str, origin: str | None) -> None:
    from paylater_sdk.issuer.web.consent import _origin

    assert _origin(url) == origin


def test_a_bad_return_url_is_never_redirected_to(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout_id = _checkout(app)
    issuer = get_issuer(app)
    real = issuer.orders.consent_view

    def view(checkout: str) -> dict[str, Any]:
        return {**real(checkout), "return_url": "javascript:alert(1)"}

    monkeypatch.setattr(issuer.orders, "consent_view", view)
    page = client.get(f"/authorize/{checkout_id}")
    assert "javascript:" not in page.headers["Content-Security-Policy"]
    response = client.post(
        f"/authorize/{checkout_id}", data={"csrf_token": _csrf(page.text), "step": "cancel"}
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "javascript:" not in response.text
