"""WeChat Pay v3's key modes: X.509 certificates (serial from the certificate) and platform
public keys (``PUB_KEY_ID_...``), each checked against the unmodified ``wechatpayv3``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from wechatpayv3.core import Core

from paylater_sdk.errors import ConfigurationError, UnknownKeyError
from paylater_sdk.signing import (
    PUBLIC_KEY_ID_PREFIX,
    WECHATPAY_V3,
    KeyRing,
    ResponseSigner,
    generate_certificate,
    generate_private_key,
    is_public_key_id,
    keyring_add_certificate,
    load_certificate,
    private_key_pem,
    public_key_id_for,
    public_key_pem,
    serial_for,
    verify_response,
)

APIV3_KEY = "0123456789abcdef0123456789ABCDEF"
BODY = b'{"prepay_id":"wx201410272009395522657a690389285100"}'


@pytest.fixture(scope="module")
def platform_key():
    return generate_private_key("rsa")


def test_certificate_serial_is_the_certificate_serial_number_in_hex(platform_key):
    cert = generate_certificate(platform_key, common_name="Tenpay.com Root CA")
    raw = x509.load_pem_x509_certificate(cert.pem)
    assert cert.serial == format(raw.serial_number, "X") == hex(raw.serial_number)[2:].upper()
    assert len(cert.serial) == 40
    assert cert.serial != serial_for(platform_key)
    assert public_key_pem(cert.public_key) == public_key_pem(platform_key)
    assert cert.not_before < datetime.now(UTC) < cert.not_after
    again = load_certificate(cert.pem.decode())
    assert again.serial == cert.serial
    assert again.not_after == cert.not_after
    assert "BEGIN" not in repr(cert)
    assert cert.serial in repr(cert)


def test_fixed_serial_number(platform_key):
    cert = generate_certificate(platform_key, common_name="m", serial_number=0x5157F09E)
    assert cert.serial == "5157F09E"


def test_load_certificate_refuses_garbage():
    with pytest.raises(ConfigurationError, match="not a PEM certificate"):
        load_certificate(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def test_keyring_takes_the_window_from_the_certificate(platform_key):
    start = datetime.now(UTC) - timedelta(days=10)
    cert = generate_certificate(platform_key, common_name="p", valid_days=5, not_before=start)
    ring = KeyRing()
    assert keyring_add_certificate(ring, cert.pem) == cert.serial
    assert ring.get(cert.serial, at=start + timedelta(days=1)) is not None
    with pytest.raises(UnknownKeyError, match="expired"):
        ring.get(cert.serial, at=datetime.now(UTC))


def test_public_key_id_is_derived_and_recognised(platform_key):
    key_id = public_key_id_for(platform_key)
    assert key_id == public_key_id_for(platform_key.public_key())
    assert key_id.startswith(PUBLIC_KEY_ID_PREFIX)
    assert key_id[11:].isdigit()
    assert len(key_id) == len("PUB_KEY_ID_") + 28
    assert key_id != public_key_id_for(generate_private_key("rsa"))
    assert is_public_key_id(key_id)
    assert not is_public_key_id(serial_for(platform_key))
    assert WECHATPAY_V3.key_mode(key_id) == "public_key"
    assert WECHATPAY_V3.key_mode("5157F09EFDC096DE15EBE81A47057A7232F1B8E1") == "certificate"


def test_public_key_mode_answer_verifies_with_wechatpayv3(platform_key):
    key_id = public_key_id_for(platform_key)
    merchant = generate_private_key("rsa")
    core = Core(
        mchid="1900000001",
        cert_serial_no=serial_for(merchant),
        private_key=private_key_pem(merchant).decode(),
        apiv3_key=APIV3_KEY,
        public_key=public_key_pem(platform_key).decode(),
        public_key_id=key_id,
    )
    headers = ResponseSigner(platform_key, key_id, profile=WECHATPAY_V3).headers(BODY)
    assert headers["Wechatpay-Serial"] == key_id
    assert core._verify_signature(headers, BODY.decode()) is True
    ring = KeyRing()
    ring.add(platform_key.public_key(), serial=key_id)
    assert verify_response(headers, BODY, keyring=ring, profile=WECHATPAY_V3) == key_id


def test_certificate_mode_answer_verifies_with_wechatpayv3(platform_key, tmp_path):
    cert = generate_certificate(platform_key, common_name="Tenpay.com Root CA")
    (tmp_path / f"{cert.serial}.pem").write_bytes(cert.pem)
    merchant = generate_private_key("rsa")
    core = Core(
        mchid="1900000001",
        cert_serial_no=serial_for(merchant),
        private_key=private_key_pem(merchant).decode(),
        apiv3_key=APIV3_KEY,
        cert_dir=str(tmp_path),
    )
    headers = ResponseSigner(platform_key, cert.serial, profile=WECHATPAY_V3).headers(BODY)
    assert core._verify_signature(headers, BODY.decode()) is True
    assert core._verify_signature(headers, BODY.decode() + " ") is False
