"""Reconciliation: ask the issuer about every order that is not final yet.

Notifications are at least once, but a shop can still miss them (downtime longer than the
retry schedule, a firewall change). Running this from cron (``flask --app
examples.merchant_flask reconcile``) or the admin button means a lost notification never
leaves an order wrong for long.

Every non-final order is compared (``store.OPEN_STATES``): a CREATED order may have been
authorized, an AUTHORIZED one captured, voided or expired, a CAPTURED or PARTIALLY_REFUNDED
one refunded. REFUNDED, VOIDED, CLOSED and EXPIRED orders cannot change any more.

:func:`differences` is the same comparison without fixing anything, over every order, for
tests and monitoring: an empty list means the shop agrees with the issuer. Only the public
client API is used; it has no listing of an order's refunds, so a refund the shop never
heard of shows as a refunded-amount difference until its ``REFUND.SUCCEEDED`` notification
(retried by the issuer) arrives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs
import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from paylater_sdk.client import PayLaterClient
from paylater_sdk.client.models import Checkout, RefundState
from paylater_sdk.errors import NotFoundError, PayLaterError
from paylater_sdk.money import Money

from . import store
from .app import get_client, get_engine

__all__ = ["ReconcileReport", "differences", "reconcile", "reconcile_command"]


@attrs.frozen
class ReconcileReport:
    """What one run did. ``changes`` has one ``(out_trade_no, description)`` per fix."""

    checked: int
    updated: tuple[str, ...]
    failed: tuple[str, ...]
    changes: tuple[tuple[str, str], ...] = ()
    #: Differences that remain after the run (e.g. a refund the shop has not heard of).
    remaining: tuple[str, ...] = ()


#: A checkout the issuer does not know after this long was never created (checkouts
#: themselves expire after 30 minutes), so the order is closed locally.
ABANDON_AFTER = timedelta(hours=1)

#: Refund states that can still change at the issuer.
_OPEN_REFUND_STATES = frozenset({RefundState.PENDING.value, RefundState.UNKNOWN.value})

# The order columns a fix is described by, with their labels.
_TRACKED = (
    ("state", "state"),
    ("captured_minor", "captured"),
    ("refunded_minor", "refunded"),
    ("checkout_id", "checkout"),
    ("order_id", "order"),
)


def _describe(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    changes = [
        f"{label} {before[col]} -> {after[col]}"
        for col, label in _TRACKED
        if before[col] != after[col]
    ]
    if before["schedule"] != after["schedule"]:
        changes.append("schedule updated")
    return changes


def _issuer_checkout(client: PayLaterClient, row: Mapping[str, Any]) -> Checkout:
    if row["checkout_id"]:
        return client.checkouts.get(row["checkout_id"])
    # Creating the checkout failed on our side (timeout, dropped connection): it may
    # still exist at the issuer, found by our own order number.
    return client.checkouts.find(row["out_trade_no"])


def compare(
    row: Mapping[str, Any], checkout: Checkout, refund_rows: Sequence[Mapping[str, Any]]
) -> list[str]:
    """How the shop's order differs from the issuer's checkout (empty: they agree)."""
    no = row["out_trade_no"]
    order = checkout.order
    issuer = {
        "state": checkout.state.value,
        "captured_minor": order.captured_amount.minor if order else 0,
        "refunded_minor": order.refunded_amount.minor if order else 0,
    }
    found = [
        f"{no}: {col} is {row[col]} in the shop, {issuer[col]} at the issuer"
        for col in ("state", "captured_minor", "refunded_minor")
        if row[col] != issuer[col]
    ]
    if row["checkout_id"] != checkout.id:
        found.append(f"{no}: checkout is {row['checkout_id']} in the shop, {checkout.id}")
    known = sum(r["amount_minor"] for r in refund_rows if r["state"] == "SUCCEEDED")
    if known != issuer["refunded_minor"]:
        found.append(
            f"{no}: the shop's refunds sum to {known}, the issuer refunded "
            f"{issuer['refunded_minor']}"
        )
    return found


def _refresh_refunds(
    client: PayLaterClient, engine: Any, row: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """Ask the issuer about the order's refunds whose outcome the shop does not know."""
    fixed: list[tuple[str, str]] = []
    for refund_row in store.list_refunds(engine, row["out_trade_no"]):
        if not refund_row["refund_id"] or refund_row["state"] not in _OPEN_REFUND_STATES:
            continue
        refund = client.refunds.get(refund_row["refund_id"])
        with engine.begin() as conn:
            if store.record_refund(
                conn,
                out_refund_no=refund.out_refund_no,
                out_trade_no=row["out_trade_no"],
                amount=refund.amount,
                state=refund.state.value,
                refund_id=refund.id,
            ):
                fixed.append(
                    (
                        row["out_trade_no"],
                        f"refund {refund.out_refund_no} {refund_row['state']} -> "
                        f"{refund.state.value}",
                    )
                )
    return fixed


def _apply(engine: Any, no: str, checkout: Checkout) -> list[tuple[str, str]]:
    with engine.begin() as conn:
        before = store.lock_order(conn, no)
        if before is None or not store.apply_checkout(conn, checkout.raw):
            return []
        after = store.get_order(conn, no)
    assert after is not None
    return [(no, change) for change in _describe(before, after)]


def _abandoned(row: Mapping[str, Any], now: datetime) -> bool:
    created = row["created_at"]
    if created.tzinfo is None:  # SQLite hands back naive UTC
        created = created.replace(tzinfo=UTC)
    return not row["checkout_id"] and now - created > ABANDON_AFTER


def reconcile(app: Flask) -> ReconcileReport:
    """Bring every non-final order in line with the issuer; report each fix."""
    engine = get_engine(app)
    client = get_client(app)
    changes: list[tuple[str, str]] = []
    failed: list[str] = []
    remaining: list[str] = []
    pending = store.list_open_orders(engine)
    now = datetime.now(UTC)
    for row in pending:
        no = row["out_trade_no"]
        try:
            checkout = _issuer_checkout(client, row)
        except NotFoundError:
            if _abandoned(row, now):
                if store.close_abandoned(engine, no):
                    changes.append((no, "state CREATED -> CLOSED (the issuer never saw it)"))
            elif row["checkout_id"]:
                failed.append(no)
            continue
        except PayLaterError as exc:
            app.logger.warning("reconcile %s: %s", no, exc)
            failed.append(no)
            continue
        try:
            changes += _apply(engine, no, checkout)
            changes += _refresh_refunds(client, engine, row)
        except PayLaterError as exc:
            app.logger.warning("reconcile refunds of %s: %s", no, exc)
            failed.append(no)
            continue
        fresh = store.get_order(engine, no)
        assert fresh is not None
        remaining += compare(fresh, checkout, store.list_refunds(engine, no))
    updated = tuple(dict.fromkeys(no for no, _ in changes))
    return ReconcileReport(
        checked=len(pending),
        updated=updated,
        failed=tuple(failed),
        changes=tuple(changes),
        remaining=tuple(remaining),
    )


def differences(app: Flask) -> list[str]:
    """Every way the shop's orders differ from the issuer's, fixing nothing.

    Compares each order's state, captured and refunded amounts (and that its refunds sum
    to the refunded amount) with a fresh ``checkouts.get``. An order the issuer never saw is
    a difference unless the shop closed it as abandoned. Empty list: full agreement.
    Raises :class:`PayLaterError` when the issuer cannot be asked (no answer is no verdict).
    """
    engine = get_engine(app)
    client = get_client(app)
    found: list[str] = []
    for row in store.list_orders(engine):
        no = row["out_trade_no"]
        try:
            checkout = _issuer_checkout(client, row)
        except NotFoundError:
            if row["checkout_id"] or row["state"] != "CLOSED":
                found.append(f"{no}: the issuer has no checkout for it (shop: {row['state']})")
            continue
        found += compare(row, checkout, store.list_refunds(engine, no))
    return found


@click.command("reconcile")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Also compare with the issuer's trade bill of this business day (YYYY-MM-DD).",
)
@click.option("--fix", is_flag=True, help="With --date: apply the issuer's truth, then compare.")
@with_appcontext
def reconcile_command(day: datetime | None, fix: bool) -> None:
    """Query the issuer about every non-final order and fix what differs.

    With ``--date``: compare the shop with that day's bill and with the issuer (every
    order in the bill, every non-final order) and print each difference; ``--fix``
    applies the issuer's truth (docs/settlement.md). Exits 1 while differences remain.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if day is not None:
        _settlement_command(app, day.date(), fix)
        return
    if fix:
        raise click.UsageError("--fix goes with --date (plain reconcile always fixes)")
    report = reconcile(app)
    click.echo(
        f"checked {report.checked} pending order(s): {len(report.updated)} updated, "
        f"{len(report.failed)} failed"
    )
    for no in report.updated:
        fixed = "; ".join(change for order_no, change in report.changes if order_no == no)
        click.echo(f"  updated {no}: {fixed}")
    for no in report.failed:
        click.echo(f"  FAILED  {no}", err=True)
    for line in report.remaining:
        click.echo(f"  DIFFERS {line}", err=True)
    if report.failed:
        raise SystemExit(1)


def _settlement_command(app: Flask, day: date, fix: bool) -> None:
    from .settlement import settle, summary_of

    try:
        report = settle(app, day, fix=fix)
    except PayLaterError as exc:  # no bill (a day not over), or the issuer cannot be asked
        click.echo(f"Error: bill {day}: {exc.message}", err=True)
        raise SystemExit(1) from None
    totals = summary_of(report)
    net = Money.from_minor(totals["net"], "CNY")
    click.echo(
        f"bill {day}: {totals['count']} line(s), net payable {net}; "
        f"{len(report.found)} difference(s)"
    )
    for line in report.found:
        click.echo(f"  DIFFERS {line}")
    for line in report.fixed:
        click.echo(f"  FIXED   {line}")
    if fix:
        for line in report.remaining:
            click.echo(f"  REMAINS {line}", err=True)
    if report.remaining:
        raise SystemExit(1)
