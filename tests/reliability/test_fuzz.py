"""Bounded fuzz of every /v1 endpoint over HTTP, and the merchant isolation matrix.

The fuzz is a fixed table of malformed bodies, headers, paths and queries (every request
correctly signed unless the header is what is being fuzzed), plus a small, bounded
hypothesis run of JSON bodies per POST endpoint: the issuer must answer every one with a
deliberate 4xx (or a 2xx), never a 5xx, never a traceback.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ._harness import Merchant, check_ledger
from ._http import Answer, Api, authorized_orders, capture, cny, create_buyer
from .conftest import StartIssuers

pytestmark = pytest.mark.reliability

B_NOTIFY, B_RETURN = "http://127.0.0.1:9/b/notify", "http://127.0.0.1:9/b/return"


@pytest.fixture
def world(
    database_url: str,
    receiver: Any,
    start_issuers: StartIssuers,
    merchant_a: Merchant,
    merchant_b: Merchant,
) -> dict[str, Any]:
    """One issuer with merchant A's objects in every state, and both merchants' APIs."""
    prefix = receiver.url + "/"
    [server] = start_issuers(database_url, prefix)
    a = Api([server.url], merchant_a.id, merchant_a.key)
    b = Api([server.url], merchant_b.id, merchant_b.key)
    buyer = create_buyer(server.url, 100_000_00)
    created = a.checkout("ISO-CREATED", 300_00, prefix + "notify", prefix + "return")
    authorized, paid = authorized_orders(
        a, server.url, buyer, prefix, count=2, amount=300_00, prefix="ISO"
    )
    capture(a, paid["id"])
    refund = a.post(
        "/v1/refunds",
        {"order_id": paid["id"], "amount": cny(100_00), "out_refund_no": "ISO-R1"},
        key="shared-key",
    )
    assert refund.status == 201
    return {
        "url": server.url,
        "a": a,
        "b": b,
        "buyer": buyer,
        "prefix": prefix,
        "created": created,
        "authorized": authorized,
        "paid": paid,
        "refund": refund.json(),
        "database_url": database_url,
    }


def sound(answer: Answer, what: object) -> None:
    assert answer.status < 500, (what, answer.status, answer.body[:300])
    assert b"Traceback" not in answer.body, what
    assert b'File "' not in answer.body, what


def raw(api: Api, method: str, path: str, body: bytes, **headers: str) -> Answer:
    signed = {"Authorization": api.signer.authorization(method, path, body)}
    signed.update(headers)
    return api.send(method, path, headers=signed, data=body)


def test_isolation_matrix(world: dict[str, Any]) -> None:
    """Merchant B gets 404 for every object of merchant A, and changes none of them."""
    b: Api = world["b"]
    a: Api = world["a"]
    created, authorized, paid = world["created"], world["authorized"], world["paid"]
    attempts = {
        "get checkout": b.get(f"/v1/checkouts/{created['id']}"),
        "find checkout": b.get("/v1/checkouts?out_trade_no=ISO-CREATED"),
        "close checkout": b.post(f"/v1/checkouts/{created['id']}/close"),
        "capture order": b.post(f"/v1/orders/{authorized['id']}/capture"),
        "void order": b.post(f"/v1/orders/{authorized['id']}/void"),
        "get refund": b.get(f"/v1/refunds/{world['refund']['id']}"),
        "refund order": b.post(
            "/v1/refunds",
            {"order_id": paid["id"], "amount": cny(100_00), "out_refund_no": "B-R1"},
        ),
    }
    assert {k: (v.status, v.code) for k, v in attempts.items()} == dict.fromkeys(
        attempts, (404, "NOT_FOUND")
    )
    # Idempotency keys are per merchant: B's "shared-key" is not A's stored refund.
    mine = b.post(
        "/v1/checkouts",
        {
            "out_trade_no": "B-1",
            "amount": cny(300_00),
            "description": "b",
            "notify_url": B_NOTIFY,
            "return_url": B_RETURN,
        },
        key="shared-key",
    )
    assert mine.status == 201
    assert mine.json()["id"].startswith("co_")
    assert a.get(f"/v1/checkouts/{created['id']}").json()["state"] == "CREATED"
    assert a.get(f"/v1/checkouts/{authorized['checkout_id']}").json()["state"] == "AUTHORIZED"
    assert a.get(f"/v1/checkouts/{paid['checkout_id']}").json()["order"]["refunded_amount"] == (
        cny(100_00)
    )
    check_ledger(world["database_url"])


def _bodies(world: dict[str, Any]) -> list[bytes]:
    token = world["buyer"]["buyer_token"]
    deep = b"[" * 3000 + b"]" * 3000
    return [
        b"",
        b"{",
        b"[]",
        b"null",
        b'"text"',
        b"1e999",
        b"\xff\xfe{}",
        b'{"a": 1, "a": 2}',
        deep,
        b'{"amount": {"value": 1.5, "currency": "CNY"}}',
        b'{"amount": {"value": 1e400, "currency": "CNY"}}',
        json.dumps({"amount": {"value": 10**30, "currency": "CNY"}}).encode(),
        json.dumps({"amount": {"value": -1, "currency": "CNY"}}).encode(),
        json.dumps({"amount": {"value": "²", "currency": "CNY"}}).encode(),
        json.dumps({"amount": {"value": 100_00, "currency": "XXX"}}).encode(),
        json.dumps({"buyer_token": token + "\x00", "amount": cny(100_00)}).encode(),
        b'{"buyer_token": "' + token.encode() + b'\\ud800", "amount": ' + b'{"value": 10000, '
        b'"currency": "CNY"}}',
        json.dumps(
            {"order_id": world["paid"]["id"], "amount": cny(1), "out_refund_no": "x" * 65}
        ).encode(),
        json.dumps({"order_id": world["paid"]["id"] + "\ud800", "amount": cny(1)}).encode(
            "utf-8", "surrogatepass"
        ),
        json.dumps({"out_trade_no": "\u00e9" * 64, "amount": cny(300_00)}).encode(),
        b'{"x": "' + b"y" * 70_000 + b'"}',
    ]


def _paths(world: dict[str, Any]) -> list[tuple[str, str]]:
    cid, oid = world["created"]["id"], world["authorized"]["id"]
    return [
        ("GET", "/v1/certificates"),
        ("GET", "/v1/openapi.json"),
        ("GET", "/v1/plans/quote?amount=30000&currency=CNY"),
        ("GET", "/v1/plans/quote?amount=abc&currency=CNY"),
        ("GET", "/v1/plans/quote?amount=%C2%B2&currency=CNY"),
        ("GET", "/v1/plans/quote?amount=-5&currency=CNY&amount=7"),
        ("GET", "/v1/plans/quote?amount=99999999999999999999999&currency=CNY"),
        ("POST", "/v1/credit/eligibility"),
        ("POST", "/v1/checkouts"),
        ("GET", f"/v1/checkouts/{cid}"),
        ("GET", "/v1/checkouts?out_trade_no=ISO-CREATED"),
        ("GET", "/v1/checkouts?out_trade_no="),
        ("GET", "/v1/checkouts/" + "c" * 5000),
        ("GET", "/v1/checkouts/%00"),
        ("GET", "/v1/checkouts/%F0%9F%98%80"),
        ("GET", "/v1/checkouts/..%2F..%2Fetc%2Fpasswd"),
        ("POST", f"/v1/checkouts/{cid}/close"),
        ("POST", f"/v1/orders/{oid}/capture"),
        ("POST", f"/v1/orders/{oid}/void"),
        ("POST", "/v1/orders//capture"),
        ("POST", "/v1/refunds"),
        ("GET", f"/v1/refunds/{world['refund']['id']}"),
        ("GET", "/v1/refunds/%FF"),
        ("DELETE", "/v1/refunds"),
        ("PUT", f"/v1/checkouts/{cid}"),
        ("GET", "/v1/nothing-here"),
    ]


def unsound(answer: Answer, what: object) -> list[Any]:
    """[] for a deliberate answer; else what was sent and what came back."""
    if answer.status < 500 and b"Traceback" not in answer.body and b'File "' not in answer.body:
        return []
    return [(what, answer.status, answer.body[:160])]


def test_fixed_table_of_malformed_requests(world: dict[str, Any]) -> None:
    a: Api = world["a"]
    json_type = {"Content-Type": "application/json"}
    found: list[Any] = []
    for method, path in _paths(world):
        found += unsound(a.call(method, path, None if method == "GET" else {}), (method, path))
        if method != "POST":
            continue
        for n, body in enumerate(_bodies(world)):
            found += unsound(raw(a, method, path, body, **json_type), (path, f"body #{n}"))
        for name, value in [
            ("Content-Type", "text/plain"),
            ("Idempotency-Key", "k" * 300),
            ("Idempotency-Key", "\u00e9"),
            ("Idempotency-Key", ""),
        ]:
            answer = raw(a, method, path, b"{}", **{**json_type, name: value})
            found += unsound(answer, (path, name, value[:10]))
    good = a.signer.authorization("GET", "/v1/certificates", b"")
    for authorization in [
        "",
        "garbage",
        "PAYLATER-ED25519",
        'PAYLATER-ED25519 mchid="m_alpha"',
        good.replace('timestamp="', 'timestamp="abc'),
        good.replace('timestamp="', 'timestamp="9'),
        good.replace('signature="', 'signature="!!!'),
        good.replace('mchid="m_alpha"', 'mchid="m_nobody"'),
        good.replace('serial_no="', 'serial_no="00'),
        good.replace("PAYLATER-ED25519", "PAYLATER-SHA256-RSA2048"),
        good + "," * 5000,
        "\u00e9" * 100,
    ]:
        answer = a.send(
            "GET", "/v1/certificates", headers={"Authorization": authorization}, data=b""
        )
        found += unsound(answer, authorization[:60])
        if answer.status != 401:
            found.append(("not refused", authorization[:60], answer.status))
    assert found == []
    check_ledger(world["database_url"])


def test_notify_url_prefixes_match_on_boundaries(world: dict[str, Any]) -> None:
    """A prefix admits its own origin and path segments only (issue 9, defect 9)."""
    a: Api = world["a"]
    origin = world["prefix"].rstrip("/")  # http://127.0.0.1:PORT
    body = {"out_trade_no": "PFX", "amount": cny(300_00), "description": "prefix"}
    for notify in [
        origin + "0/notify",
        origin.replace("127.0.0.1", "127.0.0.1.attacker.tld") + "/notify",
        origin.replace("http://", "https://") + "/notify",
        "http://user@" + origin.removeprefix("http://") + "/notify",
    ]:
        answer = a.post(
            "/v1/checkouts", {**body, "notify_url": notify, "return_url": origin + "/return"}
        )
        assert (answer.status, answer.code) == (400, "URL_NOT_ALLOWED"), notify
    # Merchant B registered "http://127.0.0.1:9" (notify) and "http://127.0.0.1:9/b" (return).
    b: Api = world["b"]
    for notify, back in [
        ("http://127.0.0.1:90/notify", B_RETURN),
        ("http://127.0.0.1:9.attacker.tld/notify", B_RETURN),
        (B_NOTIFY, "http://127.0.0.1:9/bad"),
        (B_NOTIFY, "http://127.0.0.1:9/b.evil/return"),
    ]:
        answer = b.post("/v1/checkouts", {**body, "notify_url": notify, "return_url": back})
        assert (answer.status, answer.code) == (400, "URL_NOT_ALLOWED"), (notify, back)
    ok = b.post("/v1/checkouts", {**body, "notify_url": B_NOTIFY, "return_url": B_RETURN})
    assert ok.status == 201, ok.body[:300]
    check_ledger(world["database_url"])


def test_bounded_hypothesis_bodies(world: dict[str, Any]) -> None:
    a: Api = world["a"]
    paths = [p for m, p in _paths(world) if m == "POST"]
    names = ["order_id", "amount", "out_refund_no", "buyer_token", "out_trade_no", "plans"]
    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=30)
    values = st.recursive(
        scalars | st.floats(allow_nan=False),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=8,
    )
    money = st.fixed_dictionaries({"value": st.integers(), "currency": st.text(max_size=4)})
    bodies = st.dictionaries(st.sampled_from(names) | st.text(max_size=10), values | money)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(paths), body=bodies)
    def probe(path: str, body: dict[str, Any]) -> None:
        sound(a.post(path, body), (path, body))

    probe()
    check_ledger(world["database_url"])
