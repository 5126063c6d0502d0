"""Personal data: export-buyer (right of access), purge of closed accounts (the ledger
stays whole), and a whole run whose tables and logs never hold a phone number in clear."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from paylater_sdk.cli import main
from paylater_sdk.issuer import Issuer
from paylater_sdk.issuer.domain.scorecard import Profile
from paylater_sdk.issuer.storage.schema import metadata
from paylater_sdk.lifecycle import Employment
from paylater_sdk.money import Money
from tests._support.issuer import SignedClient, cny, new_checkout

PHONE = "13912345678"


def _url(issuer: Issuer) -> str:
    return issuer.engine.url.render_as_string(hide_password=False)


def _apply(issuer: Issuer, phone: str = PHONE) -> str:
    applied = issuer.lending.apply(
        phone=phone,
        monthly_income=Money(Decimal(5000), "CNY"),
        monthly_debt_payments=Money(Decimal(1800), "CNY"),
        employment=Employment.SALARIED,
        consent=True,
        profile=Profile(95, 80, 0, 0),
    )
    return applied.buyer.id


def _dump(issuer: Issuer) -> str:
    with issuer.engine.connect() as conn:
        tables = {t.name: conn.execute(sa.select(t)).all() for t in metadata.sorted_tables}
    return json.dumps({name: [list(map(str, r)) for r in rows] for name, rows in tables.items()})


def test_export_buyer_writes_what_is_held(
    issuer: Issuer, api: SignedClient, tmp_path: Path
) -> None:
    buyer_id = _apply(issuer)
    checkout = new_checkout(api, "EX-1", 1000_00)
    issuer.orders.authorize(checkout["id"], buyer_id=buyer_id, plan_id="fenfu-6")
    out = tmp_path / "buyer.json"
    result = CliRunner().invoke(
        main, ["issuer", "export-buyer", buyer_id, "--database", _url(issuer), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    held = json.loads(out.read_text(encoding="utf-8"))
    assert held["id"] == buyer_id
    assert held["phone"] == PHONE  # the export is for its owner
    assert held["monthly_income"] == cny(5000_00)
    assert held["limit"] == cny(8400_00)
    assert [d["kind"] for d in held["decisions"]] == ["APPLICATION"]
    assert [o["amount"] for o in held["orders"]] == [cny(1000_00)]
    assert [e["reason"] for e in held["ledger"]] == ["OPEN", "HOLD"]
    missing = CliRunner().invoke(
        main, ["issuer", "export-buyer", "byr_nobody", "--database", _url(issuer)]
    )
    assert missing.exit_code == 1
    assert "no buyer 'byr_nobody'" in missing.output


def test_purge_erases_closed_accounts_and_keeps_the_ledger(issuer: Issuer) -> None:
    closed = _apply(issuer)
    kept = _apply(issuer, "13900009999")
    issuer.lending.close(closed)
    tomorrow = issuer.now().date().toordinal() + 1
    date = type(issuer.now().date()).fromordinal(tomorrow).isoformat()
    result = CliRunner().invoke(
        main, ["issuer", "purge", "--closed-before", date, "--database", _url(issuer)]
    )
    assert result.exit_code == 0, result.output
    assert f"erased the personal data of {closed}" in result.output
    assert "1 closed account(s) purged; ledger OK" in result.output
    assert issuer.buyer_by_phone(PHONE) is None
    assert issuer.buyer_by_phone("13900009999") is not None  # open accounts keep theirs
    held = issuer.lending.export(closed)
    assert (held["phone"], held["monthly_income"], held["employment"]) == (None, None, None)
    assert held["decisions"][0]["inputs"] is None
    assert held["decisions"][0]["points"]["payment_history"] == 140  # the record stays
    assert [e["reason"] for e in held["ledger"]] == ["OPEN", "CLOSE"]
    assert issuer.lending.export(kept)["monthly_income"] == cny(5000_00)
    assert issuer.check_ledger() == []
    again = CliRunner().invoke(
        main, ["issuer", "purge", "--closed-before", date, "--database", _url(issuer)]
    )
    assert "0 closed account(s) purged" in again.output


def test_an_account_with_a_balance_cannot_be_closed(issuer: Issuer, api: SignedClient) -> None:
    buyer_id = _apply(issuer)
    checkout = new_checkout(api, "CL-1", 1000_00)
    issuer.orders.authorize(checkout["id"], buyer_id=buyer_id, plan_id="fenfu-6")
    with pytest.raises(Exception, match="cannot be closed"):
        issuer.lending.close(buyer_id)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_no_table_and_no_log_of_a_run_holds_a_phone_in_clear(
    app: Flask, issuer: Issuer, api: SignedClient, caplog: Any, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement of the run
    client = app.test_client()
    phones = [PHONE, "13811112222", "13700003333"]
    # an application through the test API, one through the buyer pages, one the old way
    body = {
        "phone": phones[0],
        "monthly_income": cny(5000_00),
        "monthly_debt_payments": cny(1800_00),
        "employment": "SALARIED",
        "consent": True,
        "profile": {
            "payment_history_score": 95,
            "months_since_first_credit": 80,
            "active_credit_lines": 0,
            "defaults_last_24_months": 0,
        },
    }
    assert client.post("/_test/buyers/apply", json=body).status_code == 201
    refused = client.post("/_test/buyers/apply", json=body)
    assert refused.status_code == 409
    assert "139****5678" in refused.get_json()["message"]  # errors show it masked
    page = client.get("/account/apply")
    signed = client.post(
        "/account/apply",
        data={"csrf_token": _csrf(page.text), "step": "signin", "phone": phones[1], "code": "1"},
    )
    assert signed.status_code == 400  # a bad code, logged by nobody
    client.post("/_test/buyers", json={"limit": cny(2000_00), "phone": phones[2]})
    # a purchase through the consent page, captured and partly refunded (notifications)
    checkout = new_checkout(api, "PII-1", 1000_00)
    consent = client.get(f"/authorize/{checkout['id']}")
    client.post(
        f"/authorize/{checkout['id']}",
        data={
            "csrf_token": _csrf(consent.text),
            "step": "signin",
            "phone": phones[0],
            "code": "123456",
        },
    )
    plans = client.get(f"/authorize/{checkout['id']}")
    done = client.post(
        f"/authorize/{checkout['id']}",
        data={"csrf_token": _csrf(plans.text), "step": "confirm", "plan_id": "fenfu-6"},
    )
    assert done.status_code == 303
    order_id = api.get(f"/v1/checkouts/{checkout['id']}").get_json()["order"]["id"]
    assert api.post(f"/v1/orders/{order_id}/capture", {}).status_code == 200
    refund = {"order_id": order_id, "amount": cny(100_00), "out_refund_no": "PII-R1"}
    assert api.post("/v1/refunds", refund).status_code == 201
    issuer.deliver_pending()
    buyer = issuer.buyer_by_phone(phones[0])
    assert buyer is not None
    assert client.get(f"/_admin/buyers/{buyer.id}").status_code == 200
    assert client.get("/_admin/alerts?format=json").status_code == 200
    assert client.get("/_admin/notifications?format=json").status_code == 200
    # a refused duplicate phone on the old endpoint, and a sign-in with a wrong code
    client.post("/_test/buyers", json={"limit": cny(100), "phone": phones[2]})
    dump = _dump(issuer)
    assert "notifications" in dump
    assert "REFUND.SUCCEEDED" in dump
    assert any("INSERT INTO buyers" in r.getMessage() for r in caplog.records)
    logs = caplog.text + repr([r.__dict__ for r in caplog.records])
    for phone in phones:
        assert phone not in dump
        assert phone not in logs
    # merchant-facing objects carry no phone either (the checkout and order resources)
    assert PHONE not in json.dumps(api.get(f"/v1/checkouts/{checkout['id']}").get_json())


def test_the_wechat_phone_lookup_is_keyed_and_purged_with_the_account(issuer: Issuer) -> None:
    """WeChat's phone_number_hash is SM3 of the number: unkeyed, so reversible by trying
    every number. The issuer stores only the vault's keyed digest of it, finds the buyer
    through that, and erases it when the account's personal data is purged."""
    from paylater_sdk.issuer.domain.wechat import WeChatDesk, phone_hash
    from paylater_sdk.issuer.storage.schema import wechat_payers

    buyer_id = _apply(issuer)
    desk = WeChatDesk(issuer)
    sm3 = phone_hash(PHONE)
    assert desk.payer(phone_number_hash=sm3.lower()) == buyer_id
    with issuer.engine.connect() as conn:
        stored = conn.execute(
            sa.select(wechat_payers.c.phone_hash).where(wechat_payers.c.buyer_id == buyer_id)
        ).scalar_one()
    assert stored not in (sm3, sm3.lower(), PHONE)
    dump = _dump(issuer)
    assert sm3 not in dump
    assert sm3.lower() not in dump
    issuer.lending.close(buyer_id)
    later = issuer.now() + timedelta(days=1)
    assert issuer.lending.purge(later) == [buyer_id]
    assert desk.payer(phone_number_hash=sm3) is None
