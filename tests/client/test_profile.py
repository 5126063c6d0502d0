"""The same client speaks to a WeChat Pay v3 style gateway through an IssuerProfile."""

from __future__ import annotations

import json

import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa

from paylater_sdk.client import PayLaterClient, RetryPolicy
from paylater_sdk.errors import ConfigurationError, InvalidSignatureError
from paylater_sdk.signing import (
    WECHATPAY_V3,
    InMemoryNonceStore,
    KeyRing,
    ResponseSigner,
    generate_private_key,
    serial_for,
    verify_request,
)
from tests._support.client_fakes import API_KEY, BASE, MERCHANT, checkout_json


def test_wechatpay_v3_profile_end_to_end(mock: responses.RequestsMock) -> None:
    merchant_key = generate_private_key("rsa")
    gateway_key = generate_private_key("rsa")
    assert isinstance(gateway_key, rsa.RSAPrivateKey)
    signer = ResponseSigner(gateway_key, serial_for(gateway_key), profile=WECHATPAY_V3)
    merchant_ring = KeyRing()
    merchant_ring.add(merchant_key.public_key())
    nonces = InMemoryNonceStore()

    def answer(request):  # type: ignore[no-untyped-def]
        assert request.headers["Authorization"].startswith("WECHATPAY2-SHA256-RSA2048 ")
        verify_request(
            request.headers["Authorization"],
            request.method,
            request.path_url,
            request.body or b"",
            keyring=merchant_ring,
            nonce_store=nonces,
            profile=WECHATPAY_V3,
        )
        body = json.dumps(checkout_json()).encode()
        headers = signer.headers(body)
        assert "Wechatpay-Signature" in headers
        return 200, headers, body

    mock.add_callback("GET", f"{BASE}/v1/checkouts/co_1", callback=answer)
    client = PayLaterClient(
        BASE,
        merchant_id=MERCHANT,
        private_key=merchant_key,
        key_serial=serial_for(merchant_key),
        api_key=API_KEY,
        issuer_keys=[gateway_key.public_key()],
        profile=WECHATPAY_V3,
        retry_policy=RetryPolicy(sleep=lambda _: None),
    )

    assert client.checkouts.get("co_1").id == "co_1"


def test_answer_in_the_other_profiles_headers_is_unsigned(mock: responses.RequestsMock) -> None:
    # A Paylater-* signed answer means nothing to a client configured for Wechatpay-*.
    gateway_key = generate_private_key("rsa")
    merchant_key = generate_private_key("rsa")
    body = json.dumps(checkout_json()).encode()
    headers = ResponseSigner(gateway_key, serial_for(gateway_key)).headers(body)
    mock.add("GET", f"{BASE}/v1/checkouts/co_1", body=body, headers=headers)
    client = PayLaterClient(
        BASE,
        merchant_id=MERCHANT,
        private_key=merchant_key,
        key_serial=serial_for(merchant_key),
        api_key=API_KEY,
        issuer_keys=[gateway_key.public_key()],
        profile=WECHATPAY_V3,
    )
    with pytest.raises(InvalidSignatureError, match="not signed"):
        client.checkouts.get("co_1")


def test_profile_must_fit_the_key_and_be_a_profile() -> None:
    options = {
        "merchant_id": MERCHANT,
        "private_key": generate_private_key("ed25519"),
        "key_serial": "S1",
        "api_key": API_KEY,
    }
    with pytest.raises(ConfigurationError, match="ED25519"):
        PayLaterClient(BASE, profile=WECHATPAY_V3, **options)
    with pytest.raises(ConfigurationError, match="IssuerProfile"):
        PayLaterClient(BASE, profile="wechat", **options)  # type: ignore[arg-type]
