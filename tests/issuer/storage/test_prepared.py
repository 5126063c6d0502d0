"""The hot paths run statements built once (``paylater_sdk.issuer.storage.prepared``).

Building a SQLAlchemy statement costs several times what running a compiled one does, so
a whole purchase (the signed create, the consent pages, the signed get and capture), a
refund and an eligibility check build no statement once warm: every SELECT, INSERT and
UPDATE they send is an object made once and run with parameters. The test counts the
statement objects constructed from the package's own code during a second, warm run and
names where each one was built, so a new per-call ``sa.select(...)`` on these paths fails
here with its file and line.
"""

from __future__ import annotations

import re
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, has_request_context
from flask.testing import FlaskClient
from sqlalchemy.sql import dml, selectable

from paylater_sdk.issuer import Issuer, TestBuyer
from paylater_sdk.issuer.storage import prepared
from paylater_sdk.issuer.storage.schema import checkouts
from tests._support.issuer import SignedClient, checkout_body, cny, new_checkout

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Where the package constructs statements (``file:line``) while serving a request
    (the test's own client, which verifies each answer's signature, is not counted)."""
    seen: Counter[str] = Counter()

    def counting(cls: type) -> None:
        original: Callable[..., None] = cls.__init__  # type: ignore[misc]

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            frames = traceback.extract_stack()[:-1] if has_request_context() else []
            for frame in reversed(frames):
                if "/paylater_sdk/" in frame.filename:
                    where = frame.filename.split("/paylater_sdk/")[1]
                    seen[f"{where}:{frame.lineno} ({frame.name})"] += 1
                    break
            original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", init)

    for cls in (selectable.Select, dml.Insert, dml.Update, dml.Delete):
        counting(cls)
    return seen


def _csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no csrf_token field"
    return match.group(1)


def _step(browser: FlaskClient, page: str, shown: Any, **fields: str) -> Any:
    """Post ``fields`` to the consent page with the CSRF token of the page ``shown``."""
    return browser.post(page, data={"csrf_token": _csrf(shown.get_data(as_text=True)), **fields})


def _keyed(n: str) -> dict[str, str]:
    """The Idempotency-Key the public client sends with every POST."""
    return {"Idempotency-Key": f"idem-{n}"}


def _purchase(app: Flask, api: SignedClient, buyer: TestBuyer, trade_no: str) -> str:
    """Create, the three consent requests, get, capture: the benchmark's six requests,
    the POSTs keyed as the public client keys them."""
    created = api.post("/v1/checkouts", checkout_body(trade_no), headers=_keyed(trade_no))
    assert created.status_code == 201, created.get_json()
    checkout = created.get_json()
    page = "/authorize/" + checkout["id"]
    browser = app.test_client()
    first = browser.get(page)
    assert first.status_code == 200
    signed_in = _step(browser, page, first, step="signin", phone=buyer.phone, code=buyer.test_code)
    assert signed_in.status_code == 200
    confirmed = _step(browser, page, signed_in, step="confirm", plan_id="fenfu-6")
    assert confirmed.status_code == 303, confirmed.get_data(as_text=True)[:300]
    order = api.get(f"/v1/checkouts/{checkout['id']}").get_json()["order"]
    assert order["state"] == "AUTHORIZED"
    captured = api.post(f"/v1/orders/{order['id']}/capture", {}, headers=_keyed(order["id"]))
    assert captured.get_json()["state"] == "CAPTURED"
    order_id: str = order["id"]
    return order_id


def _refund_and_eligibility(api: SignedClient, buyer: TestBuyer, order_id: str, n: int) -> None:
    refund = api.post(
        "/v1/refunds",
        {"order_id": order_id, "out_refund_no": f"R{n}", "amount": cny(10_00)},
        headers=_keyed(f"R{n}"),
    )
    assert refund.status_code == 201, refund.get_json()
    eligible = api.post(
        "/v1/credit/eligibility",
        {"buyer_token": buyer.buyer_token, "amount": cny(100_00)},
        headers=_keyed(f"E{n}"),
    )
    assert eligible.get_json()["eligible"] is True


def test_a_warm_purchase_builds_no_statement(
    app: Flask, api: SignedClient, buyer: TestBuyer, built: Counter[str]
) -> None:
    _purchase(app, api, buyer, "P1")  # warm: the shaped statements are built on first use
    built.clear()
    order_id = _purchase(app, api, buyer, "P2")
    assert sorted(built) == [], "\n".join(sorted(built))
    _refund_and_eligibility(api, buyer, order_id, 1)
    built.clear()
    _refund_and_eligibility(api, buyer, order_id, 2)
    assert sorted(built) == [], "\n".join(sorted(built))


def test_the_counter_sees_a_statement_built_per_call(
    app: Flask, issuer: Issuer, built: Counter[str]
) -> None:
    """The check above can fail: a statement built on each call is counted where built."""
    prepared.by_id.cache_clear()
    with app.test_request_context(), issuer.engine.connect() as conn:
        for _ in range(2):
            conn.execute(prepared.by_id(checkouts), {"obj_id": "co_none"}).first()
    assert sum(built.values()) == 1  # once, then the cached object
    assert all(where.startswith("issuer/storage/prepared.py:") for where in built)


def test_by_id_is_the_row_and_its_owner(api: SignedClient, issuer: Issuer) -> None:
    """The shared statement finds the row by id, and by id and owner when owned."""
    created = new_checkout(api, "P3")
    with issuer.engine.connect() as conn:
        plain = conn.execute(prepared.by_id(checkouts), {"obj_id": created["id"]}).one()
        mine = conn.execute(
            prepared.by_id(checkouts, owned=True),
            {"obj_id": created["id"], "owner": plain.merchant_id},
        ).first()
        theirs = conn.execute(
            prepared.by_id(checkouts, owned=True), {"obj_id": created["id"], "owner": "m_other"}
        ).first()
    assert plain.out_trade_no == "P3"
    assert mine is not None
    assert mine.id == created["id"]
    assert theirs is None


def test_a_warm_sweep_builds_no_statement(app: Flask, issuer: Issuer, built: Counter[str]) -> None:
    """The expiry and overdue sweep runs before requests (once per second of business
    time), so it is on every hot path too."""
    with app.test_request_context():
        time.sleep(1.05)  # the sweep runs at most once per second: make this one run
        issuer.sweep()
        time.sleep(1.05)
        built.clear()
        issuer.sweep()
    assert sorted(built) == [], "\n".join(sorted(built))
