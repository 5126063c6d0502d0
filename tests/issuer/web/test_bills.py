"""The /v1 trade bill: every line and the summary to the fen, fixed bytes, the business
day's edges in Asia/Shanghai, one merchant's data only, and each refusal."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from paylater_sdk.issuer import Issuer, TestBuyer, create_app, get_issuer
from paylater_sdk.issuer.domain.bills import BILL_HEADER, TradeBills
from tests._support.issuer import MERCHANT_ID, SignedClient, authorized, cny

CST = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def day(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Freeze the wall clock (the test clock's offset still moves): the bill day is the
    day after tomorrow in China, and the clock starts at 10:00 that day."""
    wall = issuer.now().replace(microsecond=0)
    monkeypatch.setattr(issuer.clock, "_wall", lambda: wall)
    bill_day = wall.astimezone(CST).date() + timedelta(days=2)
    at(issuer, bill_day, time(10, 0))
    return bill_day


def at(issuer: Issuer, on: Any, clock: time) -> None:
    target = datetime.combine(on, clock, CST)
    seconds = int((target - issuer.now()).total_seconds())
    assert seconds >= 0
    issuer.advance_clock(seconds)
    assert issuer.now() == target.astimezone(UTC)


def capture(api: SignedClient, order_id: str, amount: int | None = None) -> Any:
    body = {} if amount is None else {"amount": cny(amount)}
    response = api.post(f"/v1/orders/{order_id}/capture", body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refund(api: SignedClient, order_id: str, amount: int, number: str) -> Any:
    body = {"order_id": order_id, "amount": cny(amount), "out_refund_no": number}
    response = api.post("/v1/refunds", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def bill(api: SignedClient, date: str) -> tuple[dict[str, Any], bytes]:
    answer = api.get(f"/v1/bills/trade?date={date}")
    assert answer.status_code == 200, answer.get_json()
    info = answer.get_json()
    path = info["download_url"].removeprefix("http://localhost")
    file = api.get(path)
    assert file.status_code == 200
    assert file.mimetype == "application/gzip"
    return info, file.get_data()


def rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(gzip.decompress(content).decode("utf-8"))))


def test_a_day_of_captures_partial_capture_refund_void_and_expiry(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer, day: Any
) -> None:
    free = authorized(api, issuer, buyer, "T-FREE", 300_00, plan_id="free-3")
    part = authorized(api, issuer, buyer, "T-PART", 200_00, plan_id="fenfu-3")
    void = authorized(api, issuer, buyer, "T-VOID", 150_00)
    capture(api, free["order"]["id"])  # 10:00: 免息, the merchant pays 3 x 0.6 %
    at(issuer, day, time(11, 0))
    capture(api, part["order"]["id"], 150_00)  # 50.00 released
    at(issuer, day, time(12, 0))
    first = refund(api, free["order"]["id"], 100_00, "R-1")
    at(issuer, day, time(13, 0))
    assert api.post(f"/v1/orders/{void['order']['id']}/void", {}).status_code == 200
    at(issuer, day + timedelta(days=1), time(0, 0))
    info, content = bill(api, day.isoformat())
    assert info["hash_type"] == "SHA256"
    assert hashlib.sha256(content).hexdigest() == info["hash_value"]
    table = rows(content)
    assert table[0] == list(BILL_HEADER)
    d = day.isoformat()
    fo, po, vo = free["order"]["id"], part["order"]["id"], void["order"]["id"]
    assert table[1:] == [
        [f"{d}T10:00:00+08:00", free["id"], fo, "", "T-FREE", "", "CAPTURE", "free-3",
         "300.00", "5.40", "294.60"],
        [f"{d}T11:00:00+08:00", part["id"], po, "", "T-PART", "", "CAPTURE", "fenfu-3",
         "150.00", "0.00", "150.00"],
        [f"{d}T11:00:00+08:00", part["id"], po, "", "T-PART", "", "RELEASE", "fenfu-3",
         "50.00", "0.00", "50.00"],
        [f"{d}T12:00:00+08:00", free["id"], fo, first["id"], "T-FREE", "R-1", "REFUND",
         "free-3", "-100.00", "0.00", "-100.00"],
        [f"{d}T13:00:00+08:00", void["id"], vo, "", "T-VOID", "", "RELEASE", "fenfu-6",
         "150.00", "0.00", "150.00"],
        ["SUMMARY", "5", "350.00", "5.40", "-100.00", "344.60"],
    ]  # fmt: skip


def test_the_day_edges_are_midnight_in_shanghai(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer, day: Any
) -> None:
    late = authorized(api, issuer, buyer, "T-LATE", 100_00)
    early = authorized(api, issuer, buyer, "T-EARLY", 100_00)
    at(issuer, day, time(23, 59, 59))
    capture(api, late["order"]["id"])
    at(issuer, day + timedelta(days=1), time(0, 0, 0))
    capture(api, early["order"]["id"])
    at(issuer, day + timedelta(days=2), time(0, 0, 0))
    first = rows(bill(api, day.isoformat())[1])
    second = rows(bill(api, (day + timedelta(days=1)).isoformat())[1])
    assert [(r[0], r[4]) for r in first[1:-1]] == [(f"{day}T23:59:59+08:00", "T-LATE")]
    nxt = day + timedelta(days=1)
    assert [(r[0], r[4]) for r in second[1:-1]] == [(f"{nxt}T00:00:00+08:00", "T-EARLY")]
    assert first[-1] == second[-1] == ["SUMMARY", "1", "100.00", "0.00", "0.00", "100.00"]


def test_an_expired_authorization_is_released_on_the_day_it_expired(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer, day: Any
) -> None:
    stale = authorized(api, issuer, buyer, "T-STALE", 120_00)
    ttl = issuer.config.authorization_ttl
    issuer.advance_clock(ttl)
    expired_on = issuer.now().astimezone(CST)
    assert api.get(f"/v1/checkouts/{stale['id']}").get_json()["state"] == "EXPIRED"
    at(issuer, expired_on.date() + timedelta(days=1), time(0, 0))
    table = rows(bill(api, expired_on.date().isoformat())[1])
    assert table[1:] == [
        [expired_on.isoformat(), stale["id"], stale["order"]["id"], "", "T-STALE", "",
         "RELEASE", "fenfu-6", "120.00", "0.00", "120.00"],
        ["SUMMARY", "1", "0.00", "0.00", "0.00", "0.00"],
    ]  # fmt: skip


def test_a_bill_is_the_same_bytes_at_every_download_and_after_a_restart(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer, day: Any
) -> None:
    checkout = authorized(api, issuer, buyer, "T-SAME", 120_00)
    capture(api, checkout["order"]["id"])
    at(issuer, day + timedelta(days=1), time(0, 0))
    info, content = bill(api, day.isoformat())
    # later moves (a refund the next day) never change a day already billed
    refund(api, checkout["order"]["id"], 20_00, "R-LATER")
    again, same = bill(api, day.isoformat())
    assert (again, same) == (info, content)
    # a new process on the same database (its own engine, no memory of this one)
    url = issuer.engine.url.render_as_string(hide_password=False)
    other = get_issuer(create_app({"TEST_MODE": True, "DATABASE_URL": url}))
    try:
        stored = TradeBills(other).fix(MERCHANT_ID, day.isoformat())
        assert stored.sha256 == info["hash_value"]
        assert TradeBills(other).file(MERCHANT_ID, stored.id) == content
    finally:
        other.engine.dispose()


_OTHER_PROCESS = """
import hashlib, sys
from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.issuer.domain.bills import TradeBills
issuer = get_issuer(create_app({"TEST_MODE": True, "DATABASE_URL": sys.argv[1]}))
bills = TradeBills(issuer)
stored = bills.fix(sys.argv[2], sys.argv[3])
print(stored.id, stored.sha256, hashlib.sha256(bills.file(sys.argv[2], stored.id)).hexdigest())
"""


def test_another_process_serves_the_same_bill(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer, day: Any
) -> None:
    checkout = authorized(api, issuer, buyer, "T-PROC", 120_00, plan_id="free-3")
    capture(api, checkout["order"]["id"])
    at(issuer, day + timedelta(days=1), time(0, 0))
    info, content = bill(api, day.isoformat())
    url = issuer.engine.url.render_as_string(hide_password=False)
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, url, MERCHANT_ID, day.isoformat()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    bill_id, stored, served = done.stdout.split()
    assert info["download_url"].split("/")[-2] == bill_id
    assert stored == served == info["hash_value"] == hashlib.sha256(content).hexdigest()


def test_another_merchant_sees_none_of_it(
    api: SignedClient, other_api: SignedClient, issuer: Issuer, buyer: TestBuyer, day: Any
) -> None:
    checkout = authorized(api, issuer, buyer, "T-MINE", 120_00)
    capture(api, checkout["order"]["id"])
    at(issuer, day + timedelta(days=1), time(0, 0))
    info, _ = bill(api, day.isoformat())
    theirs, content = bill(other_api, day.isoformat())
    assert rows(content)[1:] == [["SUMMARY", "0", "0.00", "0.00", "0.00", "0.00"]]
    assert theirs["download_url"] != info["download_url"]
    path = info["download_url"].removeprefix("http://localhost")
    refused = other_api.get(path)
    assert refused.status_code == 404
    assert refused.get_json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("date=2026-13-01", "date", "YYYY-MM-DD"),
        ("date=yesterday", "date", "YYYY-MM-DD"),
        ("date=", "date", "YYYY-MM-DD"),
        ("", "date", "YYYY-MM-DD"),
    ],
)
def test_a_bad_date_is_refused(api: SignedClient, query: str, field: str, words: str) -> None:
    answer = api.get(f"/v1/bills/trade?{query}" if query else "/v1/bills/trade")
    assert answer.status_code == 400
    body = answer.get_json()
    assert (body["code"], body["field"]) == ("INVALID_DATE", field)
    assert words in body["message"]


def test_today_and_future_days_are_not_billed_yet(
    api: SignedClient, issuer: Issuer, day: Any
) -> None:
    for when in (day, day + timedelta(days=30)):
        answer = api.get(f"/v1/bills/trade?date={when}")
        assert answer.status_code == 400
        body = answer.get_json()
        assert body["code"] == "INVALID_DATE"
        assert f"from 00:00 of {when + timedelta(days=1)} Asia/Shanghai" in body["message"]


def test_an_unknown_bill_id_or_an_unsigned_download_is_refused(
    api: SignedClient, issuer: Issuer, day: Any
) -> None:
    missing = api.get("/v1/bills/trade/bill_000000000000000000000000/file")
    assert (missing.status_code, missing.get_json()["code"]) == (404, "NOT_FOUND")
    at(issuer, day + timedelta(days=1), time(0, 0))
    info, _ = bill(api, day.isoformat())
    path = info["download_url"].removeprefix("http://localhost")
    unsigned = api.get(path, sign=False)
    assert (unsigned.status_code, unsigned.get_json()["code"]) == (401, "SIGNATURE_MISSING")
