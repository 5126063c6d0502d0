"""The trade bill of a day of split shipments: a CAPTURE line per capture (each with its
merchant fee, the same the order's schedule adds up) and one RELEASE for the rest."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

from paylater_sdk.installments import Schedule
from paylater_sdk.issuer import Issuer, TestBuyer
from tests._support.issuer import SignedClient, authorized, cny

from .test_bills import at, bill, day, rows  # noqa: F401 - day is a fixture


def _ship(api: SignedClient, order_id: str, minor: int) -> dict[str, Any]:
    answer = api.post(f"/v1/orders/{order_id}/capture", {"amount": cny(minor), "final": False})
    assert answer.status_code == 200, answer.get_json()
    result: dict[str, Any] = answer.get_json()
    return result


def test_split_shipments_and_a_void_of_the_rest_in_the_bill(
    api: SignedClient,
    issuer: Issuer,
    buyer: TestBuyer,
    day: Any,  # noqa: F811
) -> None:
    order = authorized(api, issuer, buyer, "T-SPLIT", 300_00, plan_id="free-3")
    order_id, checkout_id = order["order"]["id"], order["id"]
    _ship(api, order_id, 100_00)  # 10:00
    at(issuer, day, time(11, 0))
    second = _ship(api, order_id, 120_00)
    at(issuer, day, time(12, 0))
    assert api.post(f"/v1/orders/{order_id}/void", {}).status_code == 200  # the last 80.00
    at(issuer, day + timedelta(days=1), time(0, 0))
    _, content = bill(api, day.isoformat())
    d = day.isoformat()
    assert rows(content)[1:] == [
        [f"{d}T10:00:00+08:00", checkout_id, order_id, "", "T-SPLIT", "", "CAPTURE", "free-3",
         "100.00", "1.80", "98.20"],
        [f"{d}T11:00:00+08:00", checkout_id, order_id, "", "T-SPLIT", "", "CAPTURE", "free-3",
         "120.00", "2.16", "117.84"],
        [f"{d}T12:00:00+08:00", checkout_id, order_id, "", "T-SPLIT", "", "RELEASE", "free-3",
         "80.00", "0.00", "80.00"],
        ["SUMMARY", "3", "220.00", "3.96", "0.00", "216.04"],
    ]  # fmt: skip
    schedule = Schedule.from_json(second["schedule"])
    assert schedule.merchant_fee.minor == 1_80 + 2_16  # the bill's fees, to the fen
    assert issuer.check_ledger() == []
