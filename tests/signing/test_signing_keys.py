"""Key helpers, serial numbers and the KeyRing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from paylater_sdk.errors import ConfigurationError, PayLaterError, UnknownKeyError
from paylater_sdk.signing import (
    ED25519,
    RSA_SHA256,
    KeyEntry,
    KeyRing,
    algorithm_for_key,
    generate_private_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    serial_for,
)

T0 = datetime(2026, 11, 29, tzinfo=UTC)


@pytest.fixture(scope="module")
def rsa_key():
    return generate_private_key("rsa")


@pytest.fixture(scope="module")
def small_rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def test_generate(rsa_key):
    ed = generate_private_key()
    assert isinstance(ed, ed25519.Ed25519PrivateKey)
    assert isinstance(generate_private_key("ED25519"), ed25519.Ed25519PrivateKey)
    assert isinstance(rsa_key, rsa.RSAPrivateKey)
    assert rsa_key.key_size == 2048
    with pytest.raises(ConfigurationError, match="unknown key algorithm"):
        generate_private_key("dsa")


def test_serial_is_sha256_prefix_of_der():
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32))
    serial = serial_for(key.public_key())
    assert re.fullmatch(r"[0-9A-F]{40}", serial)
    assert serial_for(key) == serial  # a private key names its public half
    import hashlib

    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert serial == hashlib.sha256(der).hexdigest()[:40].upper()
    assert serial_for(generate_private_key()) != serial
    with pytest.raises(ConfigurationError):
        serial_for(b"pem")  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["ed25519", "rsa"])
def test_pem_roundtrip(alg, rsa_key):
    key = rsa_key if alg == "rsa" else generate_private_key()
    pem = private_key_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_private_key(pem)
    assert serial_for(loaded) == serial_for(key)
    assert serial_for(load_private_key(pem.decode())) == serial_for(key)
    pub = public_key_pem(key)
    assert pub.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert public_key_pem(key.public_key()) == pub
    assert serial_for(load_public_key(pub)) == serial_for(key)
    assert serial_for(load_public_key(pub.decode())) == serial_for(key)


def test_encrypted_private_key():
    key = generate_private_key()
    pem = private_key_pem(key, password=b"correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert serial_for(load_private_key(pem, b"correct horse")) == serial_for(key)
    with pytest.raises(ConfigurationError, match="is encrypted"):
        load_private_key(pem)
    with pytest.raises(ConfigurationError, match="wrong passphrase"):
        load_private_key(pem, b"wrong")
    with pytest.raises(ConfigurationError, match="not encrypted"):
        load_private_key(private_key_pem(key), b"pw")
    with pytest.raises(ConfigurationError, match="empty passphrase"):
        private_key_pem(key, b"")


def test_rsa_under_2048_bits_refused(small_rsa):
    pem = small_rsa.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for call in (
        lambda: load_private_key(pem),
        lambda: load_public_key(public_key_pem(small_rsa)),
        lambda: algorithm_for_key(small_rsa),
        lambda: KeyRing().add(small_rsa.public_key()),
    ):
        with pytest.raises(ConfigurationError, match="at least 2048 bits") as info:
            call()
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, PayLaterError)
    assert not RSA_SHA256.accepts_private_key(small_rsa)


def test_unsupported_and_garbage_keys():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ConfigurationError, match="unsupported private key type"):
        load_private_key(ec_pem)
    with pytest.raises(ConfigurationError, match="unsupported public key type"):
        load_public_key(
            ec_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    with pytest.raises(ConfigurationError, match="not a PEM private key"):
        load_private_key(b"garbage")
    with pytest.raises(ConfigurationError, match="PUBLIC KEY"):
        load_public_key(b"garbage")
    with pytest.raises(ConfigurationError, match="no algorithm"):
        algorithm_for_key(ec_key)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        private_key_pem(ec_key)  # type: ignore[arg-type]


def test_algorithm_for_key(rsa_key):
    ed = generate_private_key()
    assert algorithm_for_key(ed) is ED25519
    assert algorithm_for_key(ed.public_key()) is ED25519
    assert algorithm_for_key(rsa_key) is RSA_SHA256
    assert algorithm_for_key(rsa_key.public_key()) is RSA_SHA256
    assert repr(ED25519) == "<Algorithm ED25519>"


def test_sign_with_wrong_key_type(rsa_key):
    ed = generate_private_key()
    with pytest.raises(ConfigurationError, match="Ed25519 private key"):
        ED25519.sign(rsa_key, b"m")
    with pytest.raises(ConfigurationError, match="RSA private key"):
        RSA_SHA256.sign(ed, b"m")


# --- KeyRing -------------------------------------------------------------------------------


def test_keyring_basics(rsa_key):
    ed = generate_private_key()
    ring = KeyRing()
    assert len(ring) == 0
    s1 = ring.add(ed.public_key())
    s2 = ring.add(public_key_pem(rsa_key), not_before=T0, not_after=T0 + timedelta(days=1))
    assert s1 == serial_for(ed)
    assert s2 == serial_for(rsa_key)
    assert len(ring) == 2
    assert s1 in ring
    assert "nope" not in ring
    assert ring.serials() == [s1, s2]
    assert list(ring) == [s1, s2]
    entries = ring.entries()
    assert entries[1] == KeyEntry(s2, ring.get(s2), T0, T0 + timedelta(days=1))
    serial, key, not_before, not_after = entries[0]
    assert (serial, not_before, not_after) == (s1, None, None)
    assert serial_for(key) == s1
    assert repr(ring) == f"KeyRing(serials={[s1, s2]!r})"


def test_keyring_validity_window():
    key = generate_private_key()
    ring = KeyRing()
    serial = ring.add(key.public_key(), not_before=T0, not_after=T0 + timedelta(hours=24))
    assert serial_for(ring.get(serial, at=T0)) == serial
    assert serial_for(ring.get(serial)) == serial  # no time given: no window check
    with pytest.raises(UnknownKeyError, match="not valid before"):
        ring.get(serial, at=T0 - timedelta(seconds=1))
    with pytest.raises(UnknownKeyError, match="expired") as info:
        ring.get(serial, at=T0 + timedelta(hours=24))
    assert info.value.serial == serial


def test_keyring_unknown_serial_error_has_hint():
    with pytest.raises(UnknownKeyError, match=r"refresh the issuer's keys") as info:
        KeyRing().get("ABCDEF")
    assert info.value.serial == "ABCDEF"


def test_keyring_update_window_and_conflicts():
    key, other = generate_private_key(), generate_private_key()
    ring = KeyRing()
    serial = ring.add(key.public_key())
    assert ring.add(key.public_key(), not_after=T0) == serial
    assert ring.entries()[0].not_after == T0
    assert len(ring) == 1
    with pytest.raises(ConfigurationError, match="different key"):
        ring.add(other.public_key(), serial=serial)
    assert ring.add(other.public_key(), serial="WECHAT-CERT-1") == "WECHAT-CERT-1"
    ring.remove("WECHAT-CERT-1")
    ring.remove("never-there")
    assert ring.serials() == [serial]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"not_before": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"not_after": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"not_before": T0, "not_after": T0}, "later than"),
        ({"serial": ""}, "serial"),
        ({"serial": 'a"b'}, "serial"),
        ({"serial": "x" * 129}, "serial"),
    ],
)
def test_keyring_add_rejects(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        KeyRing().add(generate_private_key().public_key(), **kwargs)


def test_keyring_add_rejects_private_key_and_garbage():
    with pytest.raises(ConfigurationError, match="public key"):
        KeyRing().add(generate_private_key())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        KeyRing().add(b"not pem")


def test_keyring_get_rejects_naive_time():
    ring = KeyRing()
    serial = ring.add(generate_private_key().public_key())
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        ring.get(serial, at=datetime(2026, 1, 1))


def test_get_at_timestamp_matches_get_at_the_edges():
    key = generate_private_key()
    ring = KeyRing()
    start, end = T0, T0 + timedelta(hours=1)
    serial = ring.add(key.public_key(), not_before=start, not_after=end)
    first, last = int(start.timestamp()), int(end.timestamp())
    assert serial_for(ring.get_at_timestamp(serial, first)) == serial
    assert serial_for(ring.get_at_timestamp(serial, last - 1)) == serial
    with pytest.raises(UnknownKeyError, match="not valid before"):
        ring.get_at_timestamp(serial, first - 1)
    with pytest.raises(UnknownKeyError, match="expired"):
        ring.get_at_timestamp(serial, last)
    with pytest.raises(UnknownKeyError, match="no trusted key"):
        ring.get_at_timestamp("NOPE", first)
    ring.remove(serial)
    with pytest.raises(UnknownKeyError):
        ring.get_at_timestamp(serial, first)


def test_keyring_reads_while_another_thread_rotates():
    import threading

    ring = KeyRing()
    stable = ring.add(generate_private_key().public_key())
    keys = [generate_private_key().public_key() for _ in range(20)]
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                assert serial_for(ring.get(stable)) == stable
                assert serial_for(ring.get_at_timestamp(stable, 1_796_000_000)) == stable
                assert stable in ring
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(5):
        for k in keys:
            ring.remove(ring.add(k))
    done.set()
    for t in threads:
        t.join()
    assert errors == []
    assert ring.serials() == [stable]
