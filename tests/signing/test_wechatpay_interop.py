"""Byte-for-byte compatibility with WeChat Pay API v3, checked against the `wechatpayv3`
package's own functions in both directions."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from wechatpayv3.core import Core  # the dev extra installs it; a missing one must fail loudly
from wechatpayv3.utils import aes_decrypt, build_authorization, rsa_sign, rsa_verify

from paylater_sdk.errors import InvalidSignatureError
from paylater_sdk.signing import (
    WECHATPAY_V3,
    InMemoryNonceStore,
    KeyRing,
    RequestSigner,
    ResponseSigner,
    decrypt_resource,
    encrypt_resource,
    generate_private_key,
    open_notification,
    private_key_pem,
    public_key_pem,
    seal_notification,
    serial_for,
    verify_request,
    verify_response,
)

APIV3_KEY = "0123456789abcdef0123456789ABCDEF"
MCHID = "1900000001"
BODY = (
    '{"mchid":"1900000001","out_trade_no":"A1001",'
    '"amount":{"total":12000,"currency":"CNY"},"description":"分付测试"}'
)


@pytest.fixture(scope="module")
def merchant_key():
    return generate_private_key("rsa")


@pytest.fixture(scope="module")
def platform_key():
    return generate_private_key("rsa")


@pytest.fixture(scope="module")
def core(merchant_key, platform_key):
    """A wechatpayv3 client in public-key mode (no network): it verifies with platform_key."""
    return Core(
        mchid=MCHID,
        cert_serial_no=serial_for(merchant_key),
        private_key=private_key_pem(merchant_key).decode(),
        apiv3_key=APIV3_KEY,
        public_key=public_key_pem(platform_key).decode(),
        public_key_id=serial_for(platform_key),
    )


def _ring(key, serial=None):
    ring = KeyRing()
    ring.add(key.public_key(), serial=serial)
    return ring


# --- requests --------------------------------------------------------------------------


def test_our_request_signature_verifies_with_wechatpayv3(merchant_key):
    signer = RequestSigner(MCHID, merchant_key, serial_for(merchant_key), profile=WECHATPAY_V3)
    auth = signer.authorization("POST", "/v3/pay/transactions/native", BODY.encode())
    assert auth.startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="')
    fields = dict(re.findall(r'(\w+)="([^"]*)"', auth))
    # rsa_verify signs "<a>\n<b>\n<c>\n": with a = "METHOD\nPATH\nTS" it is the request string.
    head = f"POST\n/v3/pay/transactions/native\n{fields['timestamp']}"
    assert rsa_verify(
        head, fields["nonce_str"], BODY, fields["signature"], merchant_key.public_key()
    )
    assert not rsa_verify(
        head, fields["nonce_str"], BODY + " ", fields["signature"], merchant_key.public_key()
    )


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("GET", "/v3/certificates", None),
        ("GET", "/v3/pay/transactions/out-trade-no/A1001?mchid=1900000001", None),
        ("POST", "/v3/pay/transactions/native", BODY),
        ("POST", "/v3/refund/domestic/refunds", {"out_refund_no": "R1", "amount": {"refund": 100}}),
    ],
)
def test_wechatpayv3_authorization_verifies_with_us(merchant_key, method, path, data):
    serial = serial_for(merchant_key)
    auth = build_authorization(path, method, MCHID, serial, merchant_key, data=data)
    body = data if isinstance(data, str) else json.dumps(data) if data else ""
    ring = _ring(merchant_key)
    got = verify_request(
        auth,
        method,
        path,
        body.encode(),
        keyring=ring,
        nonce_store=InMemoryNonceStore(),
        profile=WECHATPAY_V3,
    )
    assert got == MCHID
    with pytest.raises(InvalidSignatureError):
        verify_request(
            auth,
            method,
            path + "x",
            body.encode(),
            keyring=ring,
            nonce_store=InMemoryNonceStore(),
            profile=WECHATPAY_V3,
        )


def test_wechat_scheme_is_refused_by_default_profile(merchant_key):
    auth = build_authorization("/v3/x", "GET", MCHID, serial_for(merchant_key), merchant_key)
    with pytest.raises(InvalidSignatureError, match="unknown signature scheme"):
        verify_request(
            auth, "GET", "/v3/x", b"", keyring=_ring(merchant_key), nonce_store=InMemoryNonceStore()
        )


# --- responses -------------------------------------------------------------------------


def test_our_response_verifies_with_wechatpayv3_core(core, platform_key):
    signer = ResponseSigner(platform_key, serial_for(platform_key), profile=WECHATPAY_V3)
    headers = signer.headers(BODY.encode())
    assert set(headers) == {
        "Wechatpay-Timestamp",
        "Wechatpay-Nonce",
        "Wechatpay-Serial",
        "Wechatpay-Signature",
        "Wechatpay-Signature-Type",
    }
    assert core._verify_signature(headers, BODY) is True
    assert core._verify_signature({k.lower(): v for k, v in headers.items()}, BODY) is True
    assert core._verify_signature(headers, BODY.replace("12000", "12001")) is False


def test_wechatpayv3_signed_response_verifies_with_us(platform_key):
    ts, nonce = str(int(time.time())), "593BEC0C930BF1AFEB40B4A08C8FB242"
    signature = rsa_sign(platform_key, f"{ts}\n{nonce}\n{BODY}\n")
    headers = {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",  # a WeChat-style serial
        "Wechatpay-Signature": signature,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    ring = _ring(platform_key, serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1")
    assert verify_response(headers, BODY.encode(), keyring=ring, profile=WECHATPAY_V3) == (
        "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    )


# --- notifications ---------------------------------------------------------------------


def test_our_notification_opens_with_wechatpayv3(core, platform_key):
    signer = ResponseSigner(platform_key, serial_for(platform_key), profile=WECHATPAY_V3)
    resource = {"out_trade_no": "A1001", "trade_state": "SUCCESS", "amount": {"total": 12000}}
    headers, body = seal_notification(
        {
            "event_type": "TRANSACTION.SUCCESS",
            "resource": resource,
            "original_type": "transaction",
            "summary": "支付成功",
        },
        APIV3_KEY,
        signer,
    )
    result = core.callback(headers, body.decode())
    assert result is not None
    assert result["event_type"] == "TRANSACTION.SUCCESS"
    assert result["summary"] == "支付成功"
    assert result["resource"] == resource
    res = json.loads(body)["resource"]
    assert aes_decrypt(
        res["nonce"], res["ciphertext"], res["associated_data"], APIV3_KEY
    ) == json.dumps(resource, separators=(",", ":"))


def test_wechat_style_notification_opens_with_us(platform_key):
    """Built by hand the way WeChat Pay builds callbacks, signed with wechatpayv3.rsa_sign."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    plaintext = json.dumps({"out_trade_no": "A1001", "trade_state": "SUCCESS"}, ensure_ascii=False)
    aes_nonce = "fdasflkja484"
    ciphertext = AESGCM(APIV3_KEY.encode()).encrypt(
        aes_nonce.encode(), plaintext.encode(), b"transaction"
    )
    envelope = {
        "id": "EV-2018022511223320873",
        "create_time": "2015-05-20T13:29:35+08:00",
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "associated_data": "transaction",
            "nonce": aes_nonce,
        },
    }
    body = json.dumps(envelope, ensure_ascii=False)
    ts, nonce = str(int(time.time())), "fdasfjihihihlkja484w"
    headers = {
        "wechatpay-timestamp": ts,
        "wechatpay-nonce": nonce,
        "wechatpay-serial": serial_for(platform_key),
        "wechatpay-signature": rsa_sign(platform_key, f"{ts}\n{nonce}\n{body}\n"),
        "wechatpay-signature-type": "WECHATPAY2-SHA256-RSA2048",
    }
    note = open_notification(
        headers,
        body.encode(),
        api_key=APIV3_KEY,
        keyring=_ring(platform_key),
        nonce_store=InMemoryNonceStore(),
        profile=WECHATPAY_V3,
    )
    assert note.id == "EV-2018022511223320873"
    assert note.original_type == "transaction"
    assert note.resource == {"out_trade_no": "A1001", "trade_state": "SUCCESS"}
    assert note.create_time.utcoffset().total_seconds() == 8 * 3600


def test_resource_encryption_matches_wechatpayv3_aes_decrypt():
    resource = encrypt_resource(b'{"id":"co_1"}', APIV3_KEY, associated_data="certificate")
    assert (
        aes_decrypt(resource["nonce"], resource["ciphertext"], "certificate", APIV3_KEY)
        == '{"id":"co_1"}'
    )
    assert aes_decrypt(resource["nonce"], resource["ciphertext"], "other", APIV3_KEY) is None
    assert decrypt_resource(resource, APIV3_KEY) == b'{"id":"co_1"}'
