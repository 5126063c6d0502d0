"""Models: strict where the SDK relies on a value, tolerant of what a newer issuer adds."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paylater_sdk import Money
from paylater_sdk.client import (
    Checkout,
    CheckoutState,
    Eligibility,
    Event,
    EventType,
    Order,
    Plan,
    Quote,
    Refund,
    RefundState,
)
from paylater_sdk.errors import APIError
from tests._support.client_fakes import checkout_json, order_json, plan_json, refund_json


def test_unknown_fields_and_states_are_tolerated() -> None:
    data = checkout_json(state="ON_HOLD", loyalty_points=12, order=order_json(state="NEW_STATE"))
    checkout = Checkout.from_api(data)
    assert checkout.state is CheckoutState.UNKNOWN
    assert checkout.order is not None
    assert checkout.order.state is CheckoutState.UNKNOWN
    assert checkout.raw["loyalty_points"] == 12
    assert checkout.raw["state"] == "ON_HOLD"


def test_raw_is_read_only_and_not_part_of_equality() -> None:
    a = Refund.from_api(refund_json())
    b = Refund.from_api(refund_json(extra="x"))
    assert a == b
    with pytest.raises(TypeError):
        a.raw["id"] = "rf_2"  # type: ignore[index]


def test_enum_parse() -> None:
    assert EventType.parse("ORDER.CAPTURED") is EventType.ORDER_CAPTURED
    assert EventType.parse("LOAN.DEFAULTED") is EventType.UNKNOWN
    assert RefundState.parse(None) is RefundState.UNKNOWN
    assert CheckoutState.parse("REFUNDED").is_final
    assert not CheckoutState.parse("CREATED").is_paid


def test_plan_amounts_are_money_and_rates_decimal() -> None:
    plan = Plan.from_api(plan_json())
    assert plan.first_payment == Money("20.72", "CNY")
    assert plan.total_amount == Money("124.32", "CNY")
    assert plan.apr == Decimal("0.1235")
    assert plan.method == "FLAT_FEE"


def test_times_are_aware() -> None:
    refund = Refund.from_api(refund_json(created_at="2026-11-30T18:00:00+08:00"))
    assert refund.created_at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert refund.created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (Checkout, checkout_json(id=None), "'id'"),
        (Checkout, checkout_json(amount=12000), "'amount'"),
        (Checkout, checkout_json(amount={"value": 1.2, "currency": "CNY"}), "'amount'"),
        (Checkout, checkout_json(created_at="2026-11-29T19:00:00"), "'created_at'"),
        (Checkout, checkout_json(created_at="yesterday"), "'created_at'"),
        (Checkout, checkout_json(plans="all"), "'plans'"),
        (Checkout, checkout_json(order=[1]), "'order'"),
        (Order, order_json(state=3), "'state'"),
        (Plan, plan_json(apr=0.12), "'apr'"),
        (Plan, plan_json(apr="NaN"), "'apr'"),
        (Plan, plan_json(apr="x"), "'apr'"),
        (Plan, plan_json(periods="6"), "'periods'"),
        (Refund, refund_json(reason=7), "'reason'"),
        (Eligibility, {"eligible": "yes", "reasons": [], "plans": []}, "'eligible'"),
        (Quote, {"amount": {"value": 1, "currency": "XXX"}, "plans": []}, "'amount'"),
    ],
)
def test_malformed_payloads_name_the_field(model: type, data: object, field: str) -> None:
    with pytest.raises(APIError, match=field):
        model.from_api(data)


def test_not_an_object() -> None:
    with pytest.raises(APIError, match="JSON object"):
        Checkout.from_api([])  # type: ignore[arg-type]


def test_eligibility_reasons_must_be_strings() -> None:
    with pytest.raises(APIError, match="reasons"):
        Eligibility.from_api({"eligible": False, "reasons": [1], "plans": []})


def test_event_resource_types() -> None:
    base = {
        "id": "evt_1",
        "event_type": "REFUND.SUCCEEDED",
        "create_time": "2026-11-30T10:00:00+00:00",
        "summary": "refund",
    }
    refund_event = Event.from_api({**base, "original_type": "refund", "resource": refund_json()})
    assert refund_event.refund is not None
    assert refund_event.checkout is None
    assert refund_event.event_type is EventType.REFUND_SUCCEEDED
    other = Event.from_api({**base, "original_type": "loan", "resource": {"x": 1}})
    assert other.resource == {"x": 1}
    assert other.refund is None
    with pytest.raises(APIError, match="resource"):
        Event.from_api({**base, "original_type": "refund"})


_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
_json = st.recursive(
    _scalars | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Mostly-valid checkouts with one or two fields replaced by junk, plus arbitrary JSON.
_checkout_like = st.builds(
    lambda extra: {**checkout_json(), **extra},
    st.dictionaries(st.sampled_from(sorted(checkout_json())), _json, max_size=2),
)


@settings(max_examples=200)
@given(data=_checkout_like | _json)
def test_any_payload_parses_or_raises_api_error(data: object) -> None:
    """Only APIError escapes, and whatever parses keeps the whole payload in ``raw``."""
    for model in (Checkout, Order, Refund, Plan, Quote, Eligibility, Event):
        outcome: Any
        try:
            outcome = model.from_api(data)  # type: ignore[arg-type]
        except APIError as exc:
            outcome = exc
        if isinstance(outcome, APIError):
            assert "malformed" in outcome.message
        else:
            assert dict(outcome.raw) == data
