"""Configuration fails at construction with a message that says what to fix."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from paylater_sdk.client import PayLaterClient
from paylater_sdk.client._config import is_loopback_host
from paylater_sdk.errors import ConfigurationError
from paylater_sdk.signing import KeyRing, generate_private_key, private_key_pem, public_key_pem
from tests._support.client_fakes import API_KEY, BASE, MERCHANT, issuer_key, make_client


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("http://issuer.example.com", "plain http to a non-loopback host"),
        ("http://10.0.0.1:8000", "plain http"),
        ("ftp://issuer.example.com", "https://"),
        ("issuer.example.com", "https://"),
        ("", "base_url"),
        (None, "base_url"),
        ("https://issuer.example.com/?x=1", "query"),
        ("https://user:pw@issuer.example.com", "credentials"),
        ("https://issuer.example.com:99999", "not a valid URL"),
    ],
)
def test_bad_base_url(sleeps: list, base_url: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PayLaterClient(
            base_url,
            merchant_id=MERCHANT,
            private_key=generate_private_key(),
            key_serial="S1",
            api_key=API_KEY,
        )


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:5000", "http://127.8.9.10", "http://localhost:8000/", "http://[::1]:80"],
)
def test_plain_http_to_loopback_is_allowed(sleeps: list, base_url: str) -> None:
    client = PayLaterClient(
        base_url,
        merchant_id=MERCHANT,
        private_key=generate_private_key(),
        key_serial="S1",
        api_key=API_KEY,
    )
    assert client.base_url == base_url.rstrip("/")


def test_loopback_detection() -> None:
    assert is_loopback_host("localhost")
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("::1")
    assert not is_loopback_host("128.0.0.1")
    assert not is_loopback_host("localhost.evil.com")
    assert not is_loopback_host("example.com")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"api_key": b"short"}, "exactly 32 bytes"),
        ({"api_key": "x" * 33}, "exactly 32 bytes"),
        ({"api_key": 12345}, "str or bytes"),
        ({"merchant_id": ""}, "merchant_id"),
        ({"merchant_id": 'm"1'}, "merchant_id"),
        ({"key_serial": "has space"}, "key_serial"),
        ({"private_key": "not a pem"}, "private_key"),
        ({"private_key": 42}, "private_key"),
        ({"private_key": generate_private_key().public_key()}, "private_key"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": (1, 2, 3)}, "timeout"),
        ({"timeout": "10"}, "timeout"),
        ({"issuer_keys": "PEM"}, "issuer_keys"),
        ({"issuer_keys": []}, "empty"),
        ({"issuer_keys": [b"not a key"]}, "not a public key"),
        ({"retry_policy": None, "max_retries": 99}, "max_retries"),
        ({"retry_policy": "fast"}, "retry_policy"),
        ({"session": object()}, "requests.Session"),
    ],
)
def test_bad_configuration(sleeps: list, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        make_client(sleeps, **overrides)
    assert API_KEY.decode() not in str(info.value)


def test_short_rsa_key_is_refused(sleeps: list) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigurationError, match="too short"):
        make_client(sleeps, private_key=weak)


def test_pem_keys_and_str_api_key_are_accepted(sleeps: list) -> None:
    key = generate_private_key("ed25519")
    client = make_client(
        sleeps,
        private_key=private_key_pem(key),
        api_key=API_KEY.decode(),
        issuer_keys=[public_key_pem(issuer_key()).decode()],
        timeout=5,
    )
    assert client.timeout == (5.0, 5.0)
    assert len(client.issuer_keys) == 1


def test_keyring_is_used_as_given(sleeps: list) -> None:
    ring = KeyRing()
    ring.add(issuer_key().public_key())
    client = make_client(sleeps, issuer_keys=ring)
    assert client.issuer_keys is ring


def test_repr_shows_no_secrets(sleeps: list) -> None:
    key = generate_private_key("ed25519")
    client = make_client(sleeps, private_key=key)
    text = repr(client) + str(client)
    assert BASE in text
    assert MERCHANT in text
    assert API_KEY.decode() not in text
    assert "PRIVATE" not in text
    assert "Ed25519PrivateKey" not in text
    for service in (client.checkouts, client.notifications, client.orders):
        assert API_KEY.decode() not in repr(service)
    assert API_KEY.decode() not in repr(vars(client))
