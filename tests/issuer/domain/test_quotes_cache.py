"""The order book prices a (amount, offers, purchase day) once and answers the same
quotes after (``OrderBook.quotes``): what a fresh ``quote_plans`` answers, every time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from paylater_sdk.installments import STANDARD_OFFERS, quote_plans
from paylater_sdk.issuer import Issuer
from paylater_sdk.money import Money

_ON = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)


def test_cached_quotes_are_what_quote_plans_answers(issuer: Issuer) -> None:
    amount = Money("1234.56", "CNY")
    fresh = quote_plans(amount, STANDARD_OFFERS, start=_ON.date(), apr_cap=issuer.config.apr_cap)
    first = issuer.orders.quotes(amount, STANDARD_OFFERS, _ON)
    again = issuer.orders.quotes(amount, STANDARD_OFFERS, _ON + timedelta(hours=5))
    assert [q.to_json() for q in first] == [q.to_json() for q in fresh]
    assert again == first
    assert [q.plan_id for q in first] == ["fenfu-3", "free-3", "fenfu-6", "fenfu-12"]


def test_another_day_amount_or_offer_set_is_priced_anew(issuer: Issuer) -> None:
    amount = Money("1234.56", "CNY")
    today = issuer.orders.quotes(amount, STANDARD_OFFERS, _ON)
    tomorrow = issuer.orders.quotes(amount, STANDARD_OFFERS, _ON + timedelta(days=1))
    assert today[0].schedule.installments[0].due_date != (
        tomorrow[0].schedule.installments[0].due_date
    )
    more = issuer.orders.quotes(Money("1234.57", "CNY"), STANDARD_OFFERS, _ON)
    assert more[0].total_amount != today[0].total_amount
    only_six = issuer.orders.quotes(amount, STANDARD_OFFERS[2:3], _ON)
    assert [q.plan_id for q in only_six] == ["fenfu-6"]


def test_a_caller_changing_its_list_changes_no_later_answer(issuer: Issuer) -> None:
    amount = Money("500.00", "CNY")
    mine = issuer.orders.quotes(amount, STANDARD_OFFERS, _ON)
    mine.clear()
    assert len(issuer.orders.quotes(amount, STANDARD_OFFERS, _ON)) == 4
    usd = issuer.orders.quotes(Money("500.00", "USD"), STANDARD_OFFERS, _ON)
    assert usd == []  # the offers are CNY only


def test_the_stored_plans_json_is_the_fresh_quotes_json(issuer: Issuer) -> None:
    amount = Money("1234.56", "CNY")
    fresh = quote_plans(amount, STANDARD_OFFERS, start=_ON.date(), apr_cap=issuer.config.apr_cap)
    first = issuer.orders.quotes_json(amount, STANDARD_OFFERS, _ON)
    assert json.loads(first) == [q.to_json() for q in fresh]
    assert issuer.orders.quotes_json(amount, STANDARD_OFFERS, _ON + timedelta(hours=5)) is first
    more = issuer.orders.quotes_json(Money("1234.57", "CNY"), STANDARD_OFFERS, _ON)
    assert json.loads(more)[0]["total_amount"] != json.loads(first)[0]["total_amount"]
    only_six = json.loads(issuer.orders.quotes_json(amount, STANDARD_OFFERS[2:3], _ON))
    assert [p["plan_id"] for p in only_six] == ["fenfu-6"]
    assert issuer.orders.quotes_json(Money("500.00", "USD"), STANDARD_OFFERS, _ON) == "[]"
