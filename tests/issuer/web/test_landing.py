"""The issuer's own pages: the landing page at ``/``, a viewport meta tag on every page, and
the test-mode sign-in hint that names the test buyers' phones as well as their codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.money import Money
from paylater_sdk.signing import generate_private_key, public_key_pem

TEMPLATES = (
    Path(__file__).resolve().parents[3] / "paylater_sdk/issuer/web/templates/paylater_issuer"
)


def _app(tmp_path: Path, **extra: object) -> Flask:
    key = generate_private_key("ed25519")
    config = {
        "TEST_MODE": True,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'issuer.db'}",
        "MERCHANTS": [
            {
                "id": "m1",
                "name": "喵喵咖啡",
                "public_keys": [public_key_pem(key).decode()],
                "api_key": "k" * 32,
                "notify_prefixes": ["https://shop.example/"],
                "return_prefixes": ["https://shop.example/"],
            }
        ],
        **extra,
    }
    return create_app(config)


def _checkout(app: Flask) -> str:
    checkout = get_issuer(app).orders.create_checkout(
        "m1",
        out_trade_no="A1",
        amount=Money("120.00", "CNY"),
        description="Latte",
        notify_url="https://shop.example/n",
        return_url="https://shop.example/r",
        plan_ids=None,
        expires_in=None,
        base_url="http://issuer.test",
    )
    checkout_id: str = checkout["id"]
    return checkout_id


def test_the_landing_page_says_what_it_is_and_links_onwards(tmp_path: Path) -> None:
    app = _app(tmp_path, DEMO_SHOP_URL="http://127.0.0.1:8000")
    response = app.test_client().get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.text
    assert "paylater mock issuer" in html
    assert "Test mode" in html
    for href in ("/_admin/notifications", "/v1/openapi.json", "http://127.0.0.1:8000/"):
        assert f'href="{href}"' in html, href
    assert "mkdocs serve" in html  # no DOCS_URL: how to get the docs
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_without_a_shop_the_landing_page_explains_the_authorize_url(tmp_path: Path) -> None:
    app = _app(tmp_path, DOCS_URL="https://docs.example/paylater/")
    html = app.test_client().get("/").text
    assert "authorize_url" in html
    assert 'href="https://docs.example/paylater/"' in html
    assert "127.0.0.1:8000" not in html


def test_a_non_http_setting_is_never_a_link(tmp_path: Path) -> None:
    html = _app(tmp_path, DEMO_SHOP_URL="javascript:alert(1)").test_client().get("/").text
    assert "javascript:" not in html


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_every_issuer_page_has_a_viewport_meta_tag(template: str) -> None:
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    if "<html" not in text:  # a fragment or a child template: its base must have it
        base = re.search(r'{% extends "paylater_issuer/([^"]+)" %}', text)
        if base is None:
            assert "{% include" not in text
            return
        text = (TEMPLATES / base.group(1)).read_text(encoding="utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text


def test_test_mode_sign_in_shows_the_test_phones_and_codes(tmp_path: Path) -> None:
    app = _app(tmp_path)
    issuer = get_issuer(app)
    first = issuer.create_buyer(limit=Money("500.00", "CNY"), phone="13800138000")
    issuer.advance_clock(1)  # creation times are whole seconds: make the order certain
    second = issuer.create_buyer(limit=Money("500.00", "CNY"))
    html = app.test_client().get(f"/authorize/{_checkout(app)}").text
    hint = html.split('id="test-buyers"', 1)[1].split("</div>", 1)[0]
    assert f"phone {first.phone}, code {first.test_code}" in hint
    assert f"phone {second.phone}, code {second.test_code}" in hint
    assert hint.index(second.phone) < hint.index(first.phone)  # newest first


def test_test_mode_without_buyers_says_how_to_make_one(tmp_path: Path) -> None:
    app = _app(tmp_path)
    html = app.test_client().get(f"/authorize/{_checkout(app)}").text
    assert "POST /_test/buyers" in html


def test_live_mode_shows_no_test_buyer(tmp_path: Path) -> None:
    app = _app(tmp_path, TEST_MODE=False, SECRET_KEY="s" * 32)
    get_issuer(app).create_buyer(limit=Money("500.00", "CNY"), phone="13800138000")
    html = app.test_client().get(f"/authorize/{_checkout(app)}").text
    assert "13800138000" not in html
    assert 'id="test-buyers"' not in html
    assert "Live mode" in app.test_client().get("/").text
