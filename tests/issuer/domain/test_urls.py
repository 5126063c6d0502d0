"""notify_url / return_url prefixes: scheme, host and port exact, path on a segment boundary."""

from __future__ import annotations

import pytest

from paylater_sdk.issuer.domain.urls import url_allowed, url_under_prefix
from tests._support.issuer import SignedClient, checkout_body


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("https://shop.example/notify", "https://shop.example"),
        ("https://shop.example/notify", "https://shop.example/"),
        ("https://SHOP.example/pay/notify", "https://shop.example/pay"),
        ("https://shop.example/pay", "https://shop.example/pay"),
        ("https://shop.example/pay/", "https://shop.example/pay/"),
        ("https://shop.example:443/pay/n?x=1", "https://shop.example/pay/"),
        ("http://127.0.0.1:2008/notify", "http://127.0.0.1:2008"),
        ("http://127.0.0.1/notify", "http://127.0.0.1:80/"),
        ("https://anything.example/x", "https://"),
    ],
)
def test_urls_under_a_prefix(url: str, prefix: str) -> None:
    assert url_under_prefix(url, prefix)


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        # the two escapes found: another port, another host that starts the same
        ("http://127.0.0.1:20081/notify", "http://127.0.0.1:2008"),
        ("https://shop.example.attacker.tld/notify", "https://shop.example"),
        ("https://shop.example/payload", "https://shop.example/pay"),
        ("http://shop.example/notify", "https://shop.example/"),
        ("https://shop.example:8443/notify", "https://shop.example/"),
        ("https://user@shop.example/notify", "https://shop.example/"),
        ("https://shop.example/pay/../admin", "https://shop.example/pay/"),
        ("https://shop.example/pay/%2e%2e/admin", "https://shop.example/pay/"),
        ("https://shop.example:99999/", "https://shop.example/"),
        ("ftp://shop.example/x", "https://shop.example/"),
        ("http://anything.example/x", "https://"),
        ("not a url", "https://shop.example/"),
    ],
)
def test_urls_outside_a_prefix(url: str, prefix: str) -> None:
    assert not url_under_prefix(url, prefix)


def test_url_allowed_needs_a_list_of_prefixes() -> None:
    assert url_allowed("https://shop.example/n", ["https://other.example/", "https://shop.example"])
    assert not url_allowed("https://shop.example/n", "https://shop.example")
    assert not url_allowed("https://shop.example/n", [])
    assert not url_allowed("https://shop.example/n", [None, ""])


def test_a_checkout_to_a_lookalike_host_is_refused(api: SignedClient) -> None:
    # the merchant registered https://shop.example/ (conftest)
    body = checkout_body(notify_url="https://shop.example.attacker.tld/notify")
    response = api.post("/v1/checkouts", body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "URL_NOT_ALLOWED"
    assert response.get_json()["field"] == "notify_url"
