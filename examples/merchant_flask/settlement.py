"""Settlement reconciliation: the shop's orders against the issuer's bill of a day.

``flask --app examples.merchant_flask reconcile --date 2026-12-01`` downloads the day's
trade bill (``client.bills.download``: the SHA-256 is checked, a corrupt file refused),
then compares three ways and prints each difference:

- the bill with itself: its summary row is the sum of its lines;
- the bill with the shop: every order in it is the shop's, every REFUND line is one of
  the shop's refunds (same number, same amount, SUCCEEDED), and the shop's captured and
  refunded amounts cover what the bill says moved that day;
- the shop with the issuer (``checkouts.get``): every order in the bill and every order
  that is not final yet, state, captured and refunded amount.

``--fix`` applies the issuer's truth: the order's state and amounts from a fresh checkout
(overwritten, even where the shop's row went wrong in a way the monotonic notification
rule would never undo), and each refund from the bill (its number, id and amount). Then
it compares again: what remains is printed. Only the public client API is used.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import attrs
import sqlalchemy as sa
from flask import Flask

from paylater_sdk.client import Checkout, PayLaterClient
from paylater_sdk.errors import NotFoundError
from paylater_sdk.money import Money

from . import store
from .app import get_client, get_engine
from .db import insert_new, lock_order, orders, refunds

__all__ = ["BillLine", "SettlementReport", "parse_bill", "settle"]


@attrs.frozen
class BillLine:
    """One line of the issuer's trade bill (docs/settlement.md), amounts in minor units."""

    time: str
    checkout_id: str
    order_id: str
    refund_id: str
    out_trade_no: str
    out_refund_no: str
    type: str
    plan: str
    gross: int
    fee: int
    net: int


@attrs.frozen
class SettlementReport:
    """One run: the bill's lines, the differences found, the fixes made, what remains."""

    day: date
    lines: tuple[BillLine, ...]
    found: tuple[str, ...]
    fixed: tuple[str, ...] = ()
    remaining: tuple[str, ...] = ()


def _minor(text: str) -> int:
    """A bill amount (``-100.00``) in minor units, exactly."""
    return Money(Decimal(text), "CNY").minor


def _line(row: Sequence[str]) -> BillLine:
    time, checkout_id, order_id, refund_id, out_trade_no, out_refund_no, kind, plan = row[:8]
    return BillLine(
        time=time,
        checkout_id=checkout_id,
        order_id=order_id,
        refund_id=refund_id,
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
        type=kind,
        plan=plan,
        gross=_minor(row[8]),
        fee=_minor(row[9]),
        net=_minor(row[10]),
    )


def parse_bill(content: bytes) -> tuple[list[BillLine], list[str]]:
    """The lines of a downloaded bill and what is wrong with the bill itself."""
    table = list(csv.reader(io.StringIO(gzip.decompress(content).decode("utf-8"))))
    header, body, summary = table[0], table[1:-1], table[-1]
    problems: list[str] = []
    if header[:3] != ["time", "checkout_id", "order_id"] or summary[0] != "SUMMARY":
        return [], ["the bill is not a trade bill (unexpected header or no summary)"]
    lines = [_line(row) for row in body]
    money = [line for line in lines if line.type != "RELEASE"]
    sums = (
        len(lines),
        sum(line.gross for line in money),
        sum(line.fee for line in money),
        sum(line.gross for line in money if line.type == "REFUND"),
        sum(line.net for line in money),
    )
    stated = (int(summary[1]), *(_minor(v) for v in summary[2:6]))
    if sums != stated:
        problems.append(f"the bill's summary {stated} is not the sum of its lines {sums}")
    problems += [
        f"{line.out_trade_no}: bill line {line.type} gross - fee != net"
        for line in lines
        if line.gross - line.fee != line.net
    ]
    return lines, problems


def _against_shop(engine: Any, lines: Sequence[BillLine]) -> list[str]:
    found: list[str] = []
    by_order: dict[str, list[BillLine]] = {}
    for line in lines:
        by_order.setdefault(line.out_trade_no, []).append(line)
    for no, own in sorted(by_order.items()):
        row = store.get_order(engine, no)
        if row is None:
            found.append(f"{no}: in the bill ({own[0].type}) but not in the shop")
            continue
        captured = sum(line.gross for line in own if line.type == "CAPTURE")
        refunded = -sum(line.gross for line in own if line.type == "REFUND")
        if row["captured_minor"] < captured:
            found.append(
                f"{no}: the bill captured {captured} that day, the shop has {row['captured_minor']}"
            )
        if row["refunded_minor"] < refunded:
            found.append(
                f"{no}: the bill refunded {refunded} that day, the shop has {row['refunded_minor']}"
            )
        shop_refunds = {r["out_refund_no"]: r for r in store.list_refunds(engine, no)}
        for line in own:
            if line.type != "REFUND":
                continue
            mine = shop_refunds.get(line.out_refund_no)
            if mine is None:
                found.append(f"{no}: refund {line.out_refund_no} is in the bill, not the shop")
            elif (mine["amount_minor"], mine["state"]) != (-line.gross, "SUCCEEDED"):
                found.append(
                    f"{no}: refund {line.out_refund_no} is {mine['amount_minor']} "
                    f"{mine['state']} in the shop, {-line.gross} SUCCEEDED in the bill"
                )
    return found


def _against_issuer(
    client: PayLaterClient, engine: Any, numbers: Iterable[str]
) -> tuple[list[str], dict[str, Checkout]]:
    from .reconcile import compare  # the one shop-versus-issuer comparison

    found: list[str] = []
    seen: dict[str, Checkout] = {}
    for no in numbers:
        row = store.get_order(engine, no)
        if row is None or not row["checkout_id"]:
            continue
        try:
            checkout = client.checkouts.get(row["checkout_id"])
        except NotFoundError:
            found.append(f"{no}: the issuer has no checkout {row['checkout_id']}")
            continue
        seen[no] = checkout
        found += compare(row, checkout, store.list_refunds(engine, no))
    return found, seen


def _compare(
    client: PayLaterClient, engine: Any, lines: Sequence[BillLine]
) -> tuple[list[str], dict[str, Checkout]]:
    numbers = dict.fromkeys(line.out_trade_no for line in lines)
    numbers.update(dict.fromkeys(r["out_trade_no"] for r in store.list_open_orders(engine)))
    issuer_found, seen = _against_issuer(client, engine, numbers)
    return _against_shop(engine, lines) + issuer_found, seen


def _overwrite(engine: Any, checkout: Checkout, lines: Sequence[BillLine]) -> list[str]:
    """The issuer's truth into the shop's rows, under the order's row lock."""
    no = checkout.out_trade_no
    order = checkout.order
    truth = {
        "state": checkout.state.value,
        "captured_minor": order.captured_amount.minor if order else 0,
        "refunded_minor": order.refunded_amount.minor if order else 0,
    }
    done: list[str] = []
    with engine.begin() as conn:
        row = lock_order(conn, no)
        if row is None:
            return done
        changed = {k: v for k, v in truth.items() if row[k] != v}
        if changed:
            values = dict(changed, updated_at=datetime.now(UTC))
            conn.execute(orders.update().where(orders.c.out_trade_no == no).values(values))
            done += [f"{no}: {k} {row[k]} -> {v}" for k, v in changed.items()]
        for line in lines:
            if line.type == "REFUND" and line.out_trade_no == no:
                done += _refund_from_bill(conn, line)
    return done


def _refund_from_bill(conn: Any, line: BillLine) -> list[str]:
    values = {"refund_id": line.refund_id, "amount_minor": -line.gross, "state": "SUCCEEDED"}
    no, number = line.out_trade_no, line.out_refund_no
    if insert_new(
        conn,
        refunds.insert().values(
            out_refund_no=number,
            out_trade_no=no,
            currency="CNY",
            reason=None,
            created_at=datetime.now(UTC),
            **values,
        ),
    ):
        return [f"{no}: refund {number} recorded from the bill ({-line.gross})"]
    row = conn.execute(sa.select(refunds).where(refunds.c.out_refund_no == number)).one()
    if all(row._mapping[k] == v for k, v in values.items()):
        return []
    conn.execute(refunds.update().where(refunds.c.out_refund_no == number).values(values))
    return [f"{no}: refund {number} set to {-line.gross} SUCCEEDED from the bill"]


def settle(app: Flask, day: date, *, fix: bool = False) -> SettlementReport:
    """Compare the shop with the bill of ``day`` and with the issuer; ``fix`` applies
    the issuer's truth and compares again."""
    client, engine = get_client(app), get_engine(app)
    buffer = io.BytesIO()
    client.bills.download(day, buffer)
    lines, problems = parse_bill(buffer.getvalue())
    found, seen = _compare(client, engine, lines)
    found = problems + found
    if not fix or not found:
        return SettlementReport(day, tuple(lines), tuple(found), remaining=tuple(found))
    fixed: list[str] = []
    for checkout in seen.values():
        fixed += _overwrite(engine, checkout, lines)
    remaining, _ = _compare(client, engine, lines)
    return SettlementReport(
        day, tuple(lines), tuple(found), tuple(fixed), tuple(problems + remaining)
    )


def summary_of(report: SettlementReport) -> Mapping[str, int]:
    """The bill's totals in minor units (count, gross, fees, refunds, net)."""
    money = [line for line in report.lines if line.type != "RELEASE"]
    return {
        "count": len(report.lines),
        "gross": sum(line.gross for line in money),
        "fees": sum(line.fee for line in money),
        "refunds": sum(line.gross for line in money if line.type == "REFUND"),
        "net": sum(line.net for line in money),
    }
