"""client.bills: a day's trade bill downloaded to a path or a file object, its SHA-256
checked as it is written; a corrupted or cut-short file refused (and removed); the
async client the same."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from paylater_sdk import Money
from paylater_sdk.client import PayLaterClient, TradeBill
from paylater_sdk.errors import (
    APIError,
    BillIntegrityError,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
)
from paylater_sdk.issuer.web import bills as bill_views
from paylater_sdk.testing import MockIssuer

CNY = "CNY"
CST = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def issuer() -> Iterator[MockIssuer]:
    with MockIssuer() as issuer:
        yield issuer


def sold(issuer: MockIssuer, client: PayLaterClient) -> date:
    """One capture and a refund today; then the clock moves to tomorrow. The day billed."""
    buyer = issuer.create_buyer(limit="5000.00")
    checkout = client.checkouts.create(
        out_trade_no="B1",
        amount=Money("1200.00", CNY),
        description="Tea set 茶具",
        notify_url="https://shop.example/notify",
        return_url="https://shop.example/return",
    )
    issuer.authorize(checkout.id, buyer, "fenfu-6")
    found = client.checkouts.get(checkout.id)
    assert found.order is not None
    client.orders.capture(found.order.id)
    client.refunds.create(found.order.id, Money("200.00", CNY), "BR1")
    day = issuer.now().astimezone(CST).date()
    issuer.advance_clock(days=1)
    return day


def lines(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(gzip.decompress(content).decode())))


def test_download_to_a_path(issuer: MockIssuer, tmp_path: Path) -> None:
    client = issuer.client()
    day = sold(issuer, client)
    dest = tmp_path / "bill.csv.gz"
    bill = client.bills.download(day, dest)
    assert isinstance(bill, TradeBill)
    content = dest.read_bytes()
    assert hashlib.sha256(content).hexdigest() == bill.hash_value
    table = lines(content)
    assert [row[6] for row in table[1:-1]] == ["CAPTURE", "REFUND"]
    assert table[-1] == ["SUMMARY", "2", "1000.00", "0.00", "-200.00", "1000.00"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bill.csv.gz"]  # no temp left
    # the same bytes again, by date string, to a str path
    again = tmp_path / "again.csv.gz"
    assert client.bills.download(day.isoformat(), str(again)) == bill
    assert again.read_bytes() == content


def test_download_to_a_file_object(issuer: MockIssuer) -> None:
    client = issuer.client()
    day = sold(issuer, client)
    buffer = io.BytesIO(b"kept:")
    buffer.seek(0, io.SEEK_END)
    bill = client.bills.download(day, buffer)
    content = buffer.getvalue()
    assert content.startswith(b"kept:")
    assert hashlib.sha256(content[5:]).hexdigest() == bill.hash_value
    assert client.bills.trade(day) == bill


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[:-7], id="truncated"),
        pytest.param(lambda data: data[:20] + bytes([data[20] ^ 1]) + data[21:], id="corrupted"),
    ],
)
def test_a_damaged_file_is_refused_and_removed(
    issuer: MockIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: Any
) -> None:
    client = issuer.client()
    day = sold(issuer, client)
    real = bill_views.TradeBills.file
    monkeypatch.setattr(bill_views.TradeBills, "file", lambda self, m, b: damage(real(self, m, b)))
    dest = tmp_path / "bill.csv.gz"
    dest.write_bytes(b"yesterday's good bill")
    with pytest.raises(BillIntegrityError, match="does not match its SHA-256"):
        client.bills.download(day, dest)
    assert dest.read_bytes() == b"yesterday's good bill"  # never replaced by a bad one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bill.csv.gz"]  # partial removed
    buffer = io.BytesIO(b"kept:")
    buffer.seek(0, io.SEEK_END)
    with pytest.raises(BillIntegrityError):
        client.bills.download(day, buffer)
    assert buffer.getvalue() == b"kept:"  # emptied back to where the download began


def test_refusals_are_clear(issuer: MockIssuer, tmp_path: Path) -> None:
    client = issuer.client()
    today = issuer.now().astimezone(CST).date()
    with pytest.raises(InvalidRequestError, match="YYYY-MM-DD"):
        client.bills.download("2026/12/01", tmp_path / "x")
    with pytest.raises(InvalidRequestError, match="once the day is over") as refused:
        client.bills.download(today + timedelta(days=3), tmp_path / "x")
    assert refused.value.code == "INVALID_DATE"
    with pytest.raises(InvalidRequestError, match="path or a binary file object"):
        client.bills.download(today - timedelta(days=1), 42)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    bad = TradeBill(
        download_url=f"{issuer.base_url}/v1/bills/trade/bill_000000000000000000000000/file",
        hash_type="SHA256",
        hash_value="0" * 64,
    )
    with pytest.raises(NotFoundError):
        client.bills._runner.run(client.bills._fetch(bad, _Null()))  # type: ignore[attr-defined]


class _Null:
    def __call__(self, chunk: bytes) -> None:
        raise AssertionError("no bytes expected")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_async_client_downloads_the_same_bytes(
    issuer: MockIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = sold(issuer, issuer.client())
    async with issuer.async_client() as client:
        dest = tmp_path / "bill.csv.gz"
        bill = await client.bills.download(day, dest)
        assert hashlib.sha256(dest.read_bytes()).hexdigest() == bill.hash_value
        buffer = io.BytesIO()
        assert await client.bills.download(day, buffer) == bill
        assert buffer.getvalue() == dest.read_bytes()
        real = bill_views.TradeBills.file
        monkeypatch.setattr(bill_views.TradeBills, "file", lambda s, m, b: real(s, m, b)[:-3])
        with pytest.raises(BillIntegrityError):
            await client.bills.download(day, tmp_path / "bad.csv.gz")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bill.csv.gz"]


@pytest.mark.parametrize(
    ("kind", "error"),
    [("connection_error", NetworkError), ("timeout", NetworkError), ("error_500", APIError)],
)
def test_a_failed_transfer_leaves_no_file(
    issuer: MockIssuer, tmp_path: Path, kind: str, error: type[Exception]
) -> None:
    client = issuer.client()
    day = sold(issuer, client)
    issuer.inject_fault(kind, path_prefix="/v1/bills/trade/")  # the file, not the answer
    with pytest.raises(error):
        client.bills.download(day, tmp_path / "bill.csv.gz")
    assert list(tmp_path.iterdir()) == []
    client.bills.download(day, tmp_path / "bill.csv.gz")  # and again: the bill
    assert lines((tmp_path / "bill.csv.gz").read_bytes())[-1][0] == "SUMMARY"
