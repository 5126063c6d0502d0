"""``POST /_test/buyers/apply``: the issue's request and answer, bad input refused with a
``field`` and nothing changed, the decision recorded append-only, phones never in clear."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from paylater_sdk.issuer import Issuer
from paylater_sdk.issuer.domain.buyers import SignedIn
from paylater_sdk.issuer.storage.schema import buyers, credit_decisions, metadata
from paylater_sdk.money import Money
from tests._support.issuer import balances, cny

GOOD_PROFILE = {
    "payment_history_score": 95,
    "months_since_first_credit": 80,
    "active_credit_lines": 0,
    "defaults_last_24_months": 0,
}


def application(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "phone": "13912345678",
        "monthly_income": cny(5000_00),
        "monthly_debt_payments": cny(1800_00),
        "employment": "SALARIED",
        "consent": True,
        "profile": GOOD_PROFILE,
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def post(app: Flask, body: Any) -> Any:
    return app.test_client().post("/_test/buyers/apply", json=body)


def _counts(issuer: Issuer) -> tuple[int, int]:
    with issuer.engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(buyers)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(credit_decisions)).scalar_one(),
        )


def test_an_approved_application_opens_the_line(app: Flask, issuer: Issuer) -> None:
    response = post(app, application())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"id", "buyer_token", "phone", "test_code", "decision"}
    assert body["phone"] == "13912345678"
    assert body["test_code"] == "123456"
    assert body["decision"] == {
        "approved": True,
        "limit": cny(8400_00),  # docs/credit.md, worked figures 2
        "grade": "A",
        "reasons": [],
        "model_version": "scorecard-v1",
    }
    assert balances(issuer, body["id"]) == {
        "limit": 8400_00,
        "available": 8400_00,
        "held": 0,
        "outstanding": 0,
    }
    assert issuer.check_ledger() == []
    found = issuer.buyer_by_phone("13912345678")
    assert found is not None
    assert found.id == body["id"]
    record = issuer.lending.decisions(body["id"])
    assert len(record) == 1
    assert record[0]["points"]["payment_history"] == 140
    assert [c["name"] for c in record[0]["caps"] if c["applied"]] == [
        "INCOME_MULTIPLE",
        "DEBT_TO_INCOME",
    ]
    assert record[0]["inputs"]["monthly_income"] == cny(5000_00)


def test_the_same_phone_without_a_profile_gets_the_same_decision(app: Flask) -> None:
    first = post(app, application(profile=None, phone="13700001111")).get_json()["decision"]
    other_app_decision = post(app, application(profile=None, phone="13700001112"))
    assert other_app_decision.status_code == 201
    again = post(app, application(profile=None, phone="13700001111"))
    # a line opened: applying again is refused; a decline may re-apply and gets the same
    if first["approved"]:
        assert again.status_code == 409
        assert again.get_json()["code"] == "DUPLICATE_PHONE"
    else:
        assert again.get_json()["decision"] == first


def test_a_declined_applicant_exists_without_a_line_and_may_apply_again(
    app: Flask, issuer: Issuer
) -> None:
    first = post(app, application(employment="STUDENT"))
    assert first.status_code == 201
    decision = first.get_json()["decision"]
    assert decision == {
        "approved": False,
        "limit": cny(0),
        "grade": None,
        "reasons": ["STUDENT"],
        "model_version": "scorecard-v1",
    }
    buyer_id = first.get_json()["id"]
    assert not issuer.lending.has_line(buyer_id)
    code = issuer.buyer_by_phone("13912345678").test_code  # type: ignore[union-attr]
    assert issuer.buyers.sign_in("13912345678", code) == SignedIn(buyer_id, has_line=False)
    second = post(app, application())
    assert second.status_code == 201
    assert second.get_json()["id"] == buyer_id
    assert issuer.buyers.sign_in("13912345678", code) == SignedIn(buyer_id, has_line=True)
    assert issuer.buyers.sign_in("13912345678", "000000" if code != "000000" else "1") is None
    assert issuer.buyers.sign_in("13912345679", code) is None  # an unknown phone
    assert second.get_json()["decision"]["limit"] == cny(8400_00)
    assert balances(issuer, buyer_id)["available"] == 8400_00
    assert [d["approved"] for d in issuer.lending.decisions(buyer_id)] == [True, False]
    assert issuer.check_ledger() == []


def test_no_consent_is_declined_and_keeps_no_declared_data(app: Flask, issuer: Issuer) -> None:
    response = post(app, application(consent=False))
    assert response.status_code == 201
    assert response.get_json()["decision"]["reasons"] == ["NO_CONSENT"]
    with issuer.engine.connect() as conn:
        row = conn.execute(sa.select(buyers).where(buyers.c.id == response.get_json()["id"])).one()
        record = conn.execute(sa.select(credit_decisions.c.inputs_json)).scalar_one()
    assert (row.monthly_income, row.employment, record) == (None, None, None)


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"monthly_income": cny(-1)}, "monthly_income", "INVALID_AMOUNT"),
        ({"monthly_income": cny(10_000_000_01)}, "monthly_income", "INVALID_AMOUNT"),
        ({"monthly_income": {"value": "5000", "currency": "CNY"}}, "monthly_income", None),
        ({"monthly_income": {"value": 5000_00, "currency": "USD"}}, "monthly_income", None),
        ({"monthly_debt_payments": cny(-500)}, "monthly_debt_payments", "INVALID_AMOUNT"),
        ({"consent": None}, "consent", "MISSING_FIELD"),
        ({"consent": "yes"}, "consent", "INVALID_FIELD"),
        ({"employment": "ASTRONAUT"}, "employment", "INVALID_FIELD"),
        ({"employment": None}, "employment", "MISSING_FIELD"),
        ({"phone": "12345"}, "phone", "INVALID_FIELD"),
        ({"profile": {**GOOD_PROFILE, "payment_history_score": 101}}, "profile", None),
        ({"profile": {"payment_history_score": 50}}, "profile", "MISSING_FIELD"),
        ({"profile": [1, 2]}, "profile", "INVALID_FIELD"),
        ({"salary": 1}, "salary", "UNKNOWN_FIELD"),
    ],
)
def test_bad_input_is_a_400_with_the_field_and_changes_nothing(
    app: Flask, issuer: Issuer, change: dict[str, Any], field: str, code: str | None
) -> None:
    before = _counts(issuer)
    body = application()
    body.update(change)
    response = post(app, {k: v for k, v in body.items() if v is not None})
    assert response.status_code == 400, response.get_json()
    error = response.get_json()
    assert error["field"].split(".")[0] == field
    if code:
        assert error["code"] == code
    assert _counts(issuer) == before


def test_no_table_holds_the_phone_in_clear(app: Flask, issuer: Issuer) -> None:
    post(app, application())
    issuer.create_buyer(limit=Money("100.00", "CNY"), phone="13811112222")
    with issuer.engine.connect() as conn:
        rows = [conn.execute(sa.select(t)).all() for t in metadata.sorted_tables]
    dump = json.dumps([[list(map(str, row)) for row in table] for table in rows])
    for phone in ("13912345678", "13811112222", "19900000001"):
        assert phone not in dump


def test_the_admin_page_shows_the_decision_record(app: Flask, issuer: Issuer) -> None:
    buyer_id = post(app, application()).get_json()["id"]
    client = app.test_client()
    data = client.get(f"/_admin/buyers/{buyer_id}?format=json").get_json()
    assert data["phone"] == "139****5678"
    assert data["limit"] == cny(8400_00)
    (decision,) = data["decisions"]
    assert decision["model_version"] == "scorecard-v1"
    assert decision["points"] == {
        "payment_history": 140,
        "credit_history_months": 90,
        "active_lines": 60,
        "employment": 80,
        "debt_to_income": 10,
        "income": 20,
    }
    assert decision["caps"][2] == {"name": "DEBT_TO_INCOME", "value": cny(8400_00), "applied": True}
    assert decision["inputs"]["employment"] == "SALARIED"
    page = client.get(f"/_admin/buyers/{buyer_id}")
    assert page.status_code == 200
    assert "139****5678" in page.text
    assert "13912345678" not in page.text
    assert "DEBT_TO_INCOME" in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert client.get("/_admin/buyers/byr_nobody?format=json").status_code == 404
    assert client.get(f"/_admin/buyers/{buyer_id}?x=1").status_code == 400
