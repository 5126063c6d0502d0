"""Request and response signing: the normal path, the framing, and every bad input."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest

from paylater_sdk.errors import (
    ConfigurationError,
    InvalidSignatureError,
    PayLaterError,
    ReplayError,
    SignatureError,
    TimestampError,
    UnknownKeyError,
)
from paylater_sdk.signing import (
    DEFAULT_PROFILE,
    ED25519,
    RSA_SHA256,
    WECHATPAY_V3,
    InMemoryNonceStore,
    IssuerProfile,
    KeyRing,
    RequestSigner,
    ResponseSigner,
    generate_private_key,
    get_header,
    request_message,
    response_message,
    serial_for,
    verify_request,
    verify_response,
)

NOW = 1_796_000_000
BODY = b'{"out_trade_no":"A1001","amount":{"value":12000,"currency":"CNY"}}'
PATH = "/v1/checkouts?expand=plans&x=1"


@pytest.fixture(scope="module")
def rsa_key():
    return generate_private_key("rsa")


@pytest.fixture(scope="module")
def ed_key():
    return generate_private_key("ed25519")


@pytest.fixture(params=["ed25519", "rsa"])
def key(request, rsa_key, ed_key):
    return ed_key if request.param == "ed25519" else rsa_key


@pytest.fixture
def ring(key):
    r = KeyRing()
    r.add(key.public_key())
    return r


@pytest.fixture
def signer(key):
    return RequestSigner("mch_1", key, serial_for(key))


@pytest.fixture
def store():
    return InMemoryNonceStore()


def _verify(auth, *, ring, store, method="POST", path=PATH, body=BODY, now=NOW, **kw):
    return verify_request(auth, method, path, body, keyring=ring, nonce_store=store, now=now, **kw)


def _fields(auth: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', auth))


def _with_field(auth: str, name: str, value: str) -> str:
    return re.sub(rf'{name}="[^"]*"', f'{name}="{value}"', auth)


# --- strings to sign -------------------------------------------------------------------


def test_request_message_is_wechat_framing():
    assert (
        request_message(
            "GET", "/v3/certificates", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", b""
        )
        == b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
    )


def test_response_message_framing():
    assert response_message(12, "N", b"{}") == b"12\nN\n{}\n"
    assert response_message("12", "N", "é") == "12\nN\né\n".encode()


@pytest.mark.parametrize(
    ("method", "path"), [("", "/x"), ("GET", ""), ("GET\n", "/x"), ("GET", "/x\n1")]
)
def test_request_message_refuses_line_breaks_and_empty_lines(method, path):
    with pytest.raises(ConfigurationError, match="line breaks"):
        request_message(method, path, 1, "n", b"")


def test_request_message_refuses_non_bytes_body():
    with pytest.raises(ConfigurationError, match="raw body"):
        request_message("GET", "/x", 1, "n", 12)  # type: ignore[arg-type]


# --- requests: normal path -------------------------------------------------------------


def test_sign_and_verify_request_returns_merchant(signer, ring, store, key):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW)
    scheme = "PAYLATER-ED25519" if signer.algorithm is ED25519 else "PAYLATER-SHA256-RSA2048"
    assert auth.startswith(scheme + " ")
    fields = _fields(auth)
    assert fields["mchid"] == "mch_1"
    assert fields["timestamp"] == str(NOW)
    assert fields["serial_no"] == serial_for(key)
    assert re.fullmatch(r"[0-9A-F]{32}", fields["nonce_str"])
    assert _verify(auth, ring=ring, store=store) == "mch_1"
    assert len(store) == 1


def test_empty_body_get(signer, ring, store):
    auth = signer.authorization("GET", "/v1/checkouts/co_1", b"", timestamp=NOW)
    assert (
        _verify(auth, ring=ring, store=store, method="GET", path="/v1/checkouts/co_1", body=b"")
        == "mch_1"
    )


def test_fields_in_any_order_and_spaces_after_commas(signer, ring, store):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW)
    scheme, _, params = auth.partition(" ")
    pairs = params.split(",")
    reordered = f"{scheme} " + " , ".join(reversed(pairs))
    assert _verify(reordered, ring=ring, store=store) == "mch_1"


def test_unknown_extra_field_is_ignored(signer, ring, store):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW) + ',future="x"'
    assert _verify(auth, ring=ring, store=store) == "mch_1"


def test_now_as_datetime_and_default_clock(signer, ring, store):
    auth = signer.authorization("POST", PATH, BODY, timestamp=datetime.fromtimestamp(NOW, UTC))
    assert (
        _verify(auth, ring=ring, store=store, now=datetime.fromtimestamp(NOW + 299, UTC)) == "mch_1"
    )
    fresh = signer.authorization("POST", PATH, BODY)
    assert _verify(fresh, ring=ring, store=store, now=None) == "mch_1"


def test_body_as_str_is_utf8(signer, ring, store):
    auth = signer.authorization("POST", PATH, "¥120 分付", timestamp=NOW)
    assert _verify(auth, ring=ring, store=store, body="¥120 分付".encode()) == "mch_1"


# --- requests: verification failures ---------------------------------------------------


def test_body_altered_by_one_byte(signer, ring, store):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW)
    altered = BODY.replace(b"12000", b"12001")
    with pytest.raises(InvalidSignatureError, match="raw body"):
        _verify(auth, ring=ring, store=store, body=altered)
    # a re-serialized body (spaces after separators) fails too: verify the raw bytes
    with pytest.raises(InvalidSignatureError):
        _verify(auth, ring=ring, store=store, body=BODY.replace(b":", b": "))
    assert len(store) == 0  # failures never burn the nonce


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/checkouts?expand=plans&x=2"),
        ("POST", "/v1/checkouts?x=1&expand=plans"),
        ("POST", "/v1/checkouts"),
        ("POST", "/v1/refunds?expand=plans&x=1"),
        ("PUT", PATH),
    ],
)
def test_path_query_or_method_altered(signer, ring, store, method, path):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW)
    with pytest.raises(InvalidSignatureError):
        _verify(auth, ring=ring, store=store, method=method, path=path)


def test_path_with_line_break_is_refused_by_verifier(signer, ring, store):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW)
    with pytest.raises(InvalidSignatureError, match="line breaks"):
        _verify(auth, ring=ring, store=store, path="/v1\n/x")


@pytest.mark.parametrize("offset", [301, -301, 10_000, -86_400])
def test_timestamp_outside_window_both_directions(signer, ring, store, offset):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW + offset)
    with pytest.raises(TimestampError, match="outside"):
        _verify(auth, ring=ring, store=store)


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_timestamp_at_window_edges_accepted(signer, ring, store, offset):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW + offset)
    assert _verify(auth, ring=ring, store=store) == "mch_1"


def test_max_skew_is_configurable(signer, ring, store):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW - 61)
    with pytest.raises(TimestampError):
        _verify(auth, ring=ring, store=store, max_skew=60)
    with pytest.raises(ConfigurationError, match="window_seconds >= max_skew"):
        _verify(auth, ring=ring, store=store, max_skew=600)
    big = InMemoryNonceStore(window_seconds=900)
    assert _verify(auth, ring=ring, store=big, max_skew=600) == "mch_1"


@pytest.mark.parametrize("value", ["abc", "17960000.0", "-1796000000", "", " 1796000000", "1" * 13])
def test_non_numeric_timestamp(signer, ring, store, value):
    auth = _with_field(signer.authorization("POST", PATH, BODY, timestamp=NOW), "timestamp", value)
    with pytest.raises(TimestampError, match="decimal digits"):
        _verify(auth, ring=ring, store=store)


def test_replayed_request(signer, ring, store):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW)
    assert _verify(auth, ring=ring, store=store) == "mch_1"
    with pytest.raises(ReplayError, match="already used"):
        _verify(auth, ring=ring, store=store, now=NOW + 100)


def test_nonce_is_scoped_by_merchant(key, ring, store):
    a = RequestSigner("mch_a", key, serial_for(key)).authorization(
        "GET", "/x", b"", timestamp=NOW, nonce="SAME"
    )
    b = RequestSigner("mch_b", key, serial_for(key)).authorization(
        "GET", "/x", b"", timestamp=NOW, nonce="SAME"
    )
    assert _verify(a, ring=ring, store=store, method="GET", path="/x", body=b"") == "mch_a"
    assert _verify(b, ring=ring, store=store, method="GET", path="/x", body=b"") == "mch_b"
    store.check_and_store("mch_c:SAME", NOW)
    with pytest.raises(ReplayError):
        store.check_and_store("mch_a:SAME", NOW)


def test_unknown_serial(signer, store):
    other = KeyRing()
    other.add(generate_private_key().public_key())
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW)
    with pytest.raises(UnknownKeyError, match="refresh") as info:
        _verify(auth, ring=other, store=store)
    assert info.value.serial == signer.serial


def test_signature_made_with_the_other_algorithm(rsa_key, ed_key, store):
    ring = KeyRing()
    ring.add(rsa_key.public_key())
    ring.add(ed_key.public_key())
    # An Ed25519 signature presented under the RSA key's serial, and the other way round.
    ed_auth = RequestSigner("m", ed_key, serial_for(rsa_key)).authorization(
        "GET", "/x", b"", timestamp=NOW
    )
    rsa_auth = RequestSigner("m", rsa_key, serial_for(ed_key)).authorization(
        "GET", "/x", b"", timestamp=NOW
    )
    for auth in (ed_auth, rsa_auth):
        with pytest.raises(InvalidSignatureError, match="algorithm mismatch"):
            _verify(auth, ring=ring, store=store, method="GET", path="/x", body=b"")
    # Swapping only the scheme word does not help either.
    swapped = ed_auth.replace("PAYLATER-ED25519", "PAYLATER-SHA256-RSA2048")
    with pytest.raises(InvalidSignatureError):
        _verify(swapped, ring=ring, store=store, method="GET", path="/x", body=b"")


def test_algorithm_allow_list(signer, ring, store):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW)
    other = RSA_SHA256 if signer.algorithm is ED25519 else ED25519
    with pytest.raises(InvalidSignatureError, match="allow-list"):
        _verify(auth, ring=ring, store=store, algorithms=[other])
    assert _verify(auth, ring=ring, store=store, algorithms=[signer.algorithm]) == "mch_1"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda a: a.replace(',signature="', ',x="'), "lacks signature"),
        (lambda a: re.sub(r',?mchid="[^"]*"', "", a).replace(" ,", " "), "lacks mchid"),
        (lambda a: a + ',nonce_str="ABC"', "twice"),
        (lambda a: a + ',signature="AAAA"', "twice"),
        (lambda a: re.sub(r'mchid="([^"]*)"', r"mchid=\1", a), "quotes"),
        (lambda a: re.sub(r'timestamp="([^"]*)"', r"timestamp=\1", a), "quotes"),
        (lambda a: a.replace('",', '" '), "commas"),
        (lambda a: a.replace(" ", "", 1), "SCHEME"),
        (lambda a: "PAYLATER-HMAC-SHA256 " + a.partition(" ")[2], "unknown signature scheme"),
        (lambda a: "Bearer " + a.partition(" ")[2], "unknown signature scheme"),
        (lambda a: "", "no Authorization"),
        (lambda a: a + ',pad="' + "A" * 4100 + '"', "4096"),
        (lambda a: a.replace('mchid="mch_1"', 'mchid=""'), "mchid is empty"),
        (lambda a: _with_field(a, "nonce_str", "has space"), "nonce"),
        (lambda a: _with_field(a, "nonce_str", "A" * 65), "nonce"),
    ],
)
def test_malformed_authorization(signer, ring, store, mutate, message):
    auth = mutate(signer.authorization("POST", PATH, BODY, timestamp=NOW))
    with pytest.raises(InvalidSignatureError, match=message):
        _verify(auth, ring=ring, store=store)


def test_non_base64_and_truncated_signatures(signer, ring, store):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW)
    sig = _fields(auth)["signature"]
    raw = base64.b64decode(sig)
    cases = {
        "not valid base64": ["!!!notbase64!!!", sig[:-1], sig + "A"],
        "bytes, expected": [
            base64.b64encode(raw[:-1]).decode(),
            base64.b64encode(raw + b"\0").decode(),
            "",
        ],
    }
    for message, values in cases.items():
        for value in values:
            with pytest.raises(InvalidSignatureError, match=message):
                _verify(_with_field(auth, "signature", value), ring=ring, store=store)
    flipped = bytes([raw[0] ^ 1]) + raw[1:]
    with pytest.raises(InvalidSignatureError, match="does not match"):
        _verify(
            _with_field(auth, "signature", base64.b64encode(flipped).decode()),
            ring=ring,
            store=store,
        )


def test_non_string_authorization(ring, store):
    with pytest.raises(InvalidSignatureError):
        _verify(None, ring=ring, store=store)  # type: ignore[arg-type]


def test_all_rejections_are_signature_errors():
    for exc in (InvalidSignatureError, TimestampError, ReplayError, UnknownKeyError):
        assert issubclass(exc, SignatureError)
        assert issubclass(exc, PayLaterError)


# --- signer configuration ----------------------------------------------------------------


def test_signer_rejects_bad_configuration(ed_key, rsa_key):
    with pytest.raises(ConfigurationError, match="merchant_id"):
        RequestSigner("", ed_key, "S")
    with pytest.raises(ConfigurationError, match="merchant_id"):
        RequestSigner('a"b', ed_key, "S")
    with pytest.raises(ConfigurationError, match="serial"):
        RequestSigner("m", ed_key, "")
    with pytest.raises(ConfigurationError, match="private key"):
        RequestSigner("m", ed_key.public_key(), "S")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="no scheme for ED25519"):
        RequestSigner("m", ed_key, "S", profile=WECHATPAY_V3)
    with pytest.raises(ConfigurationError, match="no scheme"):
        ResponseSigner(ed_key, "S", profile=WECHATPAY_V3)
    with pytest.raises(ConfigurationError, match="nonce"):
        RequestSigner("m", ed_key, "S").authorization("GET", "/x", b"", nonce="bad nonce")
    with pytest.raises(ConfigurationError, match="aware"):
        RequestSigner("m", ed_key, "S").authorization(
            "GET", "/x", b"", timestamp=datetime(2026, 1, 1)
        )
    assert RequestSigner("m", rsa_key, "S", profile=WECHATPAY_V3).algorithm is RSA_SHA256


def test_verifier_rejects_naive_now(signer, ring, store):
    auth = signer.authorization("POST", PATH, BODY, timestamp=NOW)
    with pytest.raises(ConfigurationError, match="aware"):
        _verify(auth, ring=ring, store=store, now=datetime(2026, 11, 29))
    with pytest.raises(ConfigurationError):
        _verify(auth, ring=ring, store=store, now="now")


def test_profiles():
    assert DEFAULT_PROFILE.header("Nonce") == "Paylater-Nonce"
    assert WECHATPAY_V3.header("Signature-Type") == "Wechatpay-Signature-Type"
    assert DEFAULT_PROFILE.scheme_for(ED25519) == "PAYLATER-ED25519"
    assert DEFAULT_PROFILE.algorithm_for("PAYLATER-SHA256-RSA2048") is RSA_SHA256
    assert WECHATPAY_V3.algorithms == (RSA_SHA256,)
    with pytest.raises(ConfigurationError):
        IssuerProfile(name="x")
    with pytest.raises(ConfigurationError):
        IssuerProfile(name="x", header_prefix="Bad Prefix", schemes=(("X-ED25519", ED25519),))
    with pytest.raises(ConfigurationError):
        IssuerProfile(name="x", schemes=(("lower", ED25519),))
    custom = IssuerProfile(name="acme", header_prefix="Acme", schemes=(("ACME-ED25519", ED25519),))
    assert custom.header("Serial") == "Acme-Serial"


# --- responses ---------------------------------------------------------------------------


@pytest.fixture
def rsigner(key):
    return ResponseSigner(key, serial_for(key))


def test_sign_and_verify_response(rsigner, ring, key):
    headers = rsigner.headers(BODY, timestamp=NOW, nonce="ABC123")
    assert list(headers) == [
        "Paylater-Timestamp",
        "Paylater-Nonce",
        "Paylater-Serial",
        "Paylater-Signature",
        "Paylater-Signature-Type",
    ]
    assert headers["Paylater-Timestamp"] == str(NOW)
    assert headers["Paylater-Nonce"] == "ABC123"
    assert headers["Paylater-Serial"] == serial_for(key)
    assert verify_response(headers, BODY, keyring=ring, now=NOW) == serial_for(key)


@pytest.mark.parametrize(
    "transform",
    [
        lambda h: {k.lower(): v for k, v in h.items()},
        lambda h: {k.upper(): v for k, v in h.items()},
        lambda h: {"HTTP_" + k.upper().replace("-", "_"): v for k, v in h.items()},
    ],
)
def test_response_header_names_are_case_insensitive(rsigner, ring, transform):
    headers = transform(rsigner.headers(BODY, timestamp=NOW))
    assert verify_response(headers, BODY, keyring=ring, now=NOW) == rsigner.serial


def test_response_headers_from_requests_and_werkzeug(rsigner, ring):
    from requests.structures import CaseInsensitiveDict
    from werkzeug.datastructures import Headers

    signed = rsigner.headers(BODY, timestamp=NOW)
    cid = CaseInsensitiveDict({k.lower(): v for k, v in signed.items()})
    assert verify_response(cid, BODY, keyring=ring, now=NOW) == rsigner.serial
    wz = Headers(list(signed.items()))
    assert verify_response(wz, BODY, keyring=ring, now=NOW) == rsigner.serial
    wz.add("Paylater-Nonce", "OTHER")
    with pytest.raises(InvalidSignatureError, match="twice"):
        verify_response(wz, BODY, keyring=ring, now=NOW)


def test_duplicate_header_in_plain_dict_with_two_spellings(rsigner, ring):
    headers = rsigner.headers(BODY, timestamp=NOW)
    del headers["Paylater-Nonce"]
    headers["paylater-nonce"] = "A"
    headers["PAYLATER-NONCE"] = "B"
    with pytest.raises(InvalidSignatureError, match="twice"):
        verify_response(headers, BODY, keyring=ring, now=NOW)


def test_get_header_fallbacks():
    assert get_header({"x-a": "1"}, "X-A") == "1"
    assert get_header({"X-A": b"1"}, "X-A") == "1"
    assert get_header({"x-b": "1"}, "X-A") is None
    with pytest.raises(InvalidSignatureError):
        get_header({"X-A": 1}, "X-A")  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("drop", "exc", "message"),
    [
        ("Paylater-Signature", InvalidSignatureError, "forged"),
        ("Paylater-Signature-Type", InvalidSignatureError, "Signature-Type"),
        ("Paylater-Timestamp", TimestampError, "Timestamp"),
        ("Paylater-Nonce", InvalidSignatureError, "Nonce"),
        ("Paylater-Serial", InvalidSignatureError, "Serial"),
    ],
)
def test_response_missing_header(rsigner, ring, drop, exc, message):
    headers = rsigner.headers(BODY, timestamp=NOW)
    del headers[drop]
    with pytest.raises(exc, match=message):
        verify_response(headers, BODY, keyring=ring, now=NOW)


def test_unsigned_response_is_forged(ring):
    with pytest.raises(InvalidSignatureError, match="forged"):
        verify_response({"Content-Type": "application/json"}, b"{}", keyring=ring, now=NOW)


def test_response_tampering(rsigner, ring, key):
    headers = rsigner.headers(BODY, timestamp=NOW)
    with pytest.raises(InvalidSignatureError):
        verify_response(headers, BODY + b" ", keyring=ring, now=NOW)
    for name, value in [("Paylater-Timestamp", str(NOW + 1)), ("Paylater-Nonce", "OTHER")]:
        changed = {**headers, name: value}
        with pytest.raises(InvalidSignatureError, match="does not match"):
            verify_response(changed, BODY, keyring=ring, now=NOW)
    with pytest.raises(UnknownKeyError):
        verify_response({**headers, "Paylater-Serial": "00"}, BODY, keyring=ring, now=NOW)
    with pytest.raises(InvalidSignatureError, match="unknown signature scheme"):
        verify_response({**headers, "Paylater-Signature-Type": "NONE"}, BODY, keyring=ring, now=NOW)
    for bad in ("x", "１７９６０００００００", "1796000000.5", "-5"):
        with pytest.raises(TimestampError, match="decimal digits"):
            verify_response({**headers, "Paylater-Timestamp": bad}, BODY, keyring=ring, now=NOW)
    with pytest.raises(InvalidSignatureError, match="4096"):
        verify_response({**headers, "Paylater-Signature": "A" * 5000}, BODY, keyring=ring, now=NOW)
    with pytest.raises(TimestampError):
        verify_response(headers, BODY, keyring=ring, now=NOW + 301)


def test_response_replay_only_with_store(rsigner, ring):
    headers = rsigner.headers(BODY, timestamp=NOW)
    assert verify_response(headers, BODY, keyring=ring, now=NOW) == rsigner.serial
    assert verify_response(headers, BODY, keyring=ring, now=NOW) == rsigner.serial
    store = InMemoryNonceStore()
    verify_response(headers, BODY, keyring=ring, nonce_store=store, now=NOW)
    with pytest.raises(ReplayError):
        verify_response(headers, BODY, keyring=ring, nonce_store=store, now=NOW)


def test_response_profile_must_match(rsa_key):
    ring = KeyRing()
    ring.add(rsa_key.public_key())
    wechat = ResponseSigner(rsa_key, serial_for(rsa_key), profile=WECHATPAY_V3)
    headers = wechat.headers(BODY, timestamp=NOW)
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert verify_response(
        headers, BODY, keyring=ring, profile=WECHATPAY_V3, now=NOW
    ) == serial_for(rsa_key)
    with pytest.raises(InvalidSignatureError, match="forged"):
        verify_response(headers, BODY, keyring=ring, now=NOW)


def test_key_rotation_two_keys_valid(ed_key):
    old, new = ed_key, generate_private_key()
    t0 = datetime.fromtimestamp(NOW, UTC)
    ring = KeyRing()
    ring.add(old.public_key(), not_after=t0 + timedelta(hours=24))
    ring.add(new.public_key(), not_before=t0)
    for k in (old, new):
        h = ResponseSigner(k, serial_for(k)).headers(BODY, timestamp=NOW)
        assert verify_response(h, BODY, keyring=ring, now=NOW) == serial_for(k)
    late = NOW + 86_400
    h_old = ResponseSigner(old, serial_for(old)).headers(BODY, timestamp=late)
    with pytest.raises(UnknownKeyError, match="expired"):
        verify_response(h_old, BODY, keyring=ring, now=late)
    early = NOW - 10
    h_new = ResponseSigner(new, serial_for(new)).headers(BODY, timestamp=early)
    with pytest.raises(UnknownKeyError, match="not valid before"):
        verify_response(h_new, BODY, keyring=ring, now=early)


def test_timestamp_is_signed_as_sent(key, ring, store):
    """The string to sign carries the header's timestamp text, leading zeros included."""
    import base64 as b64

    nonce = "LEADINGZERO"
    message = request_message("GET", "/x", "0" + str(NOW), nonce, b"")
    signature = b64.b64encode(
        RequestSigner("m", key, serial_for(key)).algorithm.sign(key, message)
    ).decode()
    scheme = DEFAULT_PROFILE.scheme_for(RequestSigner("m", key, serial_for(key)).algorithm)
    auth = (
        f'{scheme} mchid="m",nonce_str="{nonce}",timestamp="0{NOW}",'
        f'serial_no="{serial_for(key)}",signature="{signature}"'
    )
    assert _verify(auth, ring=ring, store=store, method="GET", path="/x", body=b"") == "m"
