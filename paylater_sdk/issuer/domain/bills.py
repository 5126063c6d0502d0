"""Settlement bills: one engine for a merchant's day of money (docs/settlement.md).

What both faces share: the business day (a calendar day in the configured time zone,
``BILL_TIME_ZONE``, Asia/Shanghai by default) as an epoch window, and deterministic gzip
(``mtime=0``), so equal CSV bytes always compress to equal files. The ``/v1`` trade bill
is built here from the books themselves:

- ``CAPTURE`` and ``RELEASE`` lines come from the ledger's hold moves (every entry that
  takes from ``held``): the part that became a loan (``outstanding_delta``) was captured,
  the rest went back to the buyer's credit. So a void, an expiry, a capture below the
  authorization or the end of partial captures all show, whatever operation made them;
- ``REFUND`` lines come from the refunds.

A day's bill is fixed when first asked for (bytes and SHA-256 stored, one row per
merchant and day, unique in the database), so every download, from any process and after
any restart, is the same bytes, and only a day that has ended can be billed.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import attrs
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ...errors import InvalidRequestError, NotFoundError, PlanError
from ...installments import PlanTerms, build_schedule
from ...lifecycle import BillLineType, RefundState
from ...money import Money
from ..storage.schema import bills, checkouts, ledger_entries, orders, reading, refunds, to_epoch
from .lifecycle import new_id

if TYPE_CHECKING:
    from .issuer import Issuer

__all__ = [
    "BILL_HEADER",
    "BillLine",
    "StoredBill",
    "TradeBills",
    "business_day",
    "day_window",
    "fixed_gzip",
    "merchant_fee",
    "render_trade_bill",
    "trade_lines",
]

#: The columns of a ``/v1`` trade bill, in order (docs/settlement.md).
BILL_HEADER = (
    "time",
    "checkout_id",
    "order_id",
    "refund_id",
    "out_trade_no",
    "out_refund_no",
    "type",
    "plan",
    "gross",
    "merchant_fee",
    "net",
)
_KIND = "TRADE"


def day_window(day: date, zone: tzinfo) -> tuple[int, int]:
    """``[start, end)`` of ``day`` in ``zone`` as epoch seconds (DST days are 23 or 25 h)."""
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return to_epoch(start), to_epoch(end)


def business_day(now: datetime, zone: tzinfo) -> date:
    """The calendar day ``now`` falls on in ``zone``."""
    return now.astimezone(zone).date()


def fixed_gzip(data: bytes) -> bytes:
    """Gzip with no timestamp: the same bytes in give the same file out, every time."""
    return gzip.compress(data, mtime=0)


def merchant_fee(schedule_json: str | None, captured: int, currency: str, on: date) -> int:
    """What the merchant pays for the plan on ``captured`` minor units: the plan's own
    merchant fee model (``Schedule.merchant_fee``, docs/plans.md): a merchant-paid
    (免息) per-period fee rounded half-up to the minor unit times the periods, plus
    ``merchant_fee_rate`` x the amount rounded half-up. 0 for a plan the buyer pays."""
    if not schedule_json:
        return 0
    terms = PlanTerms.from_json(json.loads(schedule_json)["terms"])
    try:
        schedule = build_schedule(Money.from_minor(captured, currency), terms, start=on)
    except PlanError:  # an amount the plan cannot split: no loan, no fee
        return 0
    return schedule.merchant_fee.minor


@attrs.frozen
class BillLine:
    """One line of a trade bill; amounts in minor units, ``net = gross - fee``."""

    at: int
    checkout_id: str
    order_id: str
    refund_id: str
    out_trade_no: str
    out_refund_no: str
    type: BillLineType
    plan: str
    gross: int
    fee: int
    currency: str

    @property
    def net(self) -> int:
        """What the line adds to (or, negative, takes from) the merchant's payable."""
        return self.gross - self.fee


def _hold_lines(conn: sa.Connection, merchant_id: str, window: tuple[int, int]) -> list[Any]:
    le = ledger_entries
    return list(
        conn.execute(
            sa.select(
                le.c.id,
                le.c.created_at,
                le.c.held_delta,
                le.c.outstanding_delta,
                le.c.currency,
                orders.c.id.label("order_id"),
                orders.c.checkout_id,
                orders.c.plan_id,
                orders.c.schedule_json,
                checkouts.c.out_trade_no,
            )
            .select_from(
                le.join(orders, orders.c.id == le.c.reference).join(
                    checkouts, checkouts.c.id == orders.c.checkout_id
                )
            )
            .where(
                orders.c.merchant_id == merchant_id,
                le.c.held_delta < 0,
                le.c.created_at >= window[0],
                le.c.created_at < window[1],
            )
            .order_by(le.c.created_at, le.c.id)
        )
    )


def _refund_rows(conn: sa.Connection, merchant_id: str, window: tuple[int, int]) -> list[Any]:
    return list(
        conn.execute(
            sa.select(
                refunds.c.id,
                refunds.c.created_at,
                refunds.c.amount,
                refunds.c.currency,
                refunds.c.out_refund_no,
                refunds.c.list_seq,
                orders.c.id.label("order_id"),
                orders.c.checkout_id,
                orders.c.plan_id,
                checkouts.c.out_trade_no,
            )
            .select_from(
                refunds.join(orders, orders.c.id == refunds.c.order_id).join(
                    checkouts, checkouts.c.id == orders.c.checkout_id
                )
            )
            .where(
                refunds.c.merchant_id == merchant_id,
                refunds.c.state == RefundState.SUCCEEDED,
                refunds.c.created_at >= window[0],
                refunds.c.created_at < window[1],
            )
            .order_by(refunds.c.created_at, refunds.c.list_seq)
        )
    )


def trade_lines(
    conn: sa.Connection, merchant_id: str, window: tuple[int, int], zone: ZoneInfo
) -> list[BillLine]:
    """Every line of the merchant's window, in time order (ledger moves before refunds of
    the same second, each in the order it was written)."""
    keyed: list[tuple[tuple[int, int, int, int], BillLine]] = []
    for r in _hold_lines(conn, merchant_id, window):
        captured = max(r.outstanding_delta, 0)
        released = -r.held_delta - captured
        common = {
            "at": r.created_at,
            "checkout_id": r.checkout_id,
            "order_id": r.order_id,
            "refund_id": "",
            "out_trade_no": r.out_trade_no,
            "out_refund_no": "",
            "plan": r.plan_id,
            "currency": r.currency,
        }
        if captured:
            on = datetime.fromtimestamp(r.created_at, UTC).astimezone(zone).date()
            fee = merchant_fee(r.schedule_json, captured, r.currency, on)
            line = BillLine(type=BillLineType.CAPTURE, gross=captured, fee=fee, **common)
            keyed.append(((r.created_at, 0, r.id, 0), line))
        if released > 0:
            line = BillLine(type=BillLineType.RELEASE, gross=released, fee=0, **common)
            keyed.append(((r.created_at, 0, r.id, 1), line))
    for r in _refund_rows(conn, merchant_id, window):
        line = BillLine(
            at=r.created_at,
            checkout_id=r.checkout_id,
            order_id=r.order_id,
            refund_id=r.id,
            out_trade_no=r.out_trade_no,
            out_refund_no=r.out_refund_no,
            type=BillLineType.REFUND,
            plan=r.plan_id,
            gross=-r.amount,
            fee=0,
            currency=r.currency,
        )
        keyed.append(((r.created_at, 1, int(r.list_seq or 0), 0), line))
    return [line for _, line in sorted(keyed, key=lambda item: item[0])]


def _decimal(minor: int, currency: str) -> str:
    """An amount as the bill writes it everywhere: the currency's decimal places, a ``-``
    for what goes back (``-10.00``), never an exponent or a thousands separator."""
    return f"{Money.from_minor(minor, currency).amount:f}"


def render_trade_bill(lines: Iterable[BillLine], zone: ZoneInfo, currency: str = "CNY") -> bytes:
    """The CSV of a trade bill: the header, the lines, then the summary row.

    The summary is ``SUMMARY, count, gross, merchant_fee, refunds, net``: ``count`` counts
    every line; ``gross`` and ``net`` add the money lines (CAPTURE and REFUND: a RELEASE
    line moves credit, not money, and is left out); ``refunds`` is the REFUND lines'
    (negative) gross, already inside ``gross``. So ``gross - merchant_fee = net`` on every
    line and on the summary.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(BILL_HEADER)
    count = gross = fees = refunded = 0
    for line in lines:
        count += 1
        if line.type is not BillLineType.RELEASE:
            gross += line.gross
            fees += line.fee
        if line.type is BillLineType.REFUND:
            refunded += line.gross
        when = datetime.fromtimestamp(line.at, UTC).astimezone(zone).isoformat()
        writer.writerow(
            (
                when,
                line.checkout_id,
                line.order_id,
                line.refund_id,
                line.out_trade_no,
                line.out_refund_no,
                line.type.value,
                line.plan,
                _decimal(line.gross, line.currency),
                _decimal(line.fee, line.currency),
                _decimal(line.net, line.currency),
            )
        )
    amounts = (gross, fees, refunded, gross - fees)
    writer.writerow(("SUMMARY", str(count), *(_decimal(a, currency) for a in amounts)))
    return out.getvalue().encode("utf-8")


@attrs.frozen
class StoredBill:
    """A fixed bill: its id (the download's), its day and the SHA-256 of the gzip bytes."""

    id: str
    bill_date: str
    sha256: str


def parse_bill_date(text: object, today: date, zone: ZoneInfo) -> date:
    """A ``YYYY-MM-DD`` day that has ended in the business time zone, else a clear error."""
    day = None
    if isinstance(text, str) and len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
    if day is None:
        given = "none was given" if text is None else f"got {str(text)[:40]!r}"
        raise InvalidRequestError(
            f"date must be a calendar day as YYYY-MM-DD (date=2026-12-01); {given}",
            code="INVALID_DATE",
            field="date",
        )
    if day >= today:
        raise InvalidRequestError(
            f"the bill of {day} is made once the day is over: from 00:00 of "
            f"{day + timedelta(days=1)} {zone.key} (today there is {today})",
            code="INVALID_DATE",
            field="date",
        )
    return day


class TradeBills:
    """The ``/v1`` trade bills of an issuer (each method one transaction)."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self.zone = ZoneInfo(issuer.config.bill_time_zone)

    def fix(self, merchant_id: str, bill_date: object) -> StoredBill:
        """The merchant's bill of ``bill_date``, made and stored the first time.

        Two first requests racing for one day both compute the same bytes; the unique
        (merchant, kind, day) row lets one insert win and the other read it back.
        """
        today = business_day(self.issuer.now(), self.zone)
        day = parse_bill_date(bill_date, today, self.zone)
        found = self._stored(merchant_id, day)
        if found is not None:
            return found
        with reading(self.issuer.engine) as conn:
            lines = trade_lines(conn, merchant_id, day_window(day, self.zone), self.zone)
        content = fixed_gzip(render_trade_bill(lines, self.zone))
        try:
            with self.issuer.engine.begin() as conn:
                conn.execute(
                    bills.insert().values(
                        id=new_id("bill"),
                        merchant_id=merchant_id,
                        kind=_KIND,
                        bill_date=day.isoformat(),
                        content=content,
                        sha256=hashlib.sha256(content).hexdigest(),
                        created_at=to_epoch(self.issuer.now()),
                    )
                )
        except IntegrityError:
            pass  # another request fixed it first: its row is the bill
        stored = self._stored(merchant_id, day)
        if stored is None:  # pragma: no cover - the insert or its rival committed a row
            raise RuntimeError(f"the bill of {day} was not stored")
        return stored

    def _stored(self, merchant_id: str, day: date) -> StoredBill | None:
        with self.issuer.engine.connect() as conn:
            row = conn.execute(
                sa.select(bills.c.id, bills.c.bill_date, bills.c.sha256).where(
                    bills.c.merchant_id == merchant_id,
                    bills.c.kind == _KIND,
                    bills.c.bill_date == day.isoformat(),
                )
            ).first()
        return None if row is None else StoredBill(row.id, row.bill_date, row.sha256)

    def file(self, merchant_id: str, bill_id: str) -> bytes:
        """The stored gzip bytes; another merchant's bill id is as unknown as a made-up one."""
        with self.issuer.engine.connect() as conn:
            content = conn.execute(
                sa.select(bills.c.content).where(
                    bills.c.id == bill_id, bills.c.merchant_id == merchant_id
                )
            ).scalar()
        if content is None:
            raise NotFoundError(f"no bill {bill_id[:64]!r}", code="NOT_FOUND")
        return bytes(content)
