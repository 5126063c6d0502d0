"""Reconciliation: ask the issuer about every order still waiting for news.

Notifications are at least once, but a shop can still miss them (downtime longer than the
retry schedule, a firewall change). Running this from cron (``flask --app
examples.merchant_flask reconcile``) or the admin button means a lost notification never
leaves an order wrong for long.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from paylater_sdk.errors import NotFoundError, PayLaterError

from . import store
from .app import get_client, get_engine

__all__ = ["ReconcileReport", "reconcile", "reconcile_command"]


@attrs.frozen
class ReconcileReport:
    checked: int
    updated: tuple[str, ...]
    failed: tuple[str, ...]


#: A checkout the issuer does not know after this long was never created (checkouts
#: themselves expire after 30 minutes), so the order is closed locally.
ABANDON_AFTER = timedelta(hours=1)


def reconcile(app: Flask) -> ReconcileReport:
    engine = get_engine(app)
    client = get_client(app)
    updated: list[str] = []
    failed: list[str] = []
    pending = store.list_open_orders(engine)
    now = datetime.now(UTC)
    for row in pending:
        no = row["out_trade_no"]
        try:
            if row["checkout_id"]:
                checkout = client.checkouts.get(row["checkout_id"])
            else:
                # Creating the checkout failed on our side (timeout, dropped connection):
                # it may still exist at the issuer, found by our own order number.
                checkout = client.checkouts.find(no)
        except NotFoundError:
            created = row["created_at"]
            if created.tzinfo is None:  # SQLite hands back naive UTC
                created = created.replace(tzinfo=UTC)
            if not row["checkout_id"] and now - created > ABANDON_AFTER:
                store.close_abandoned(engine, no)
                updated.append(no)
            elif row["checkout_id"]:
                failed.append(no)
            continue
        except PayLaterError as exc:
            app.logger.warning("reconcile %s: %s", no, exc)
            failed.append(no)
            continue
        with engine.begin() as conn:
            if store.apply_checkout(conn, checkout.raw):
                updated.append(no)
    return ReconcileReport(checked=len(pending), updated=tuple(updated), failed=tuple(failed))


@click.command("reconcile")
@with_appcontext
def reconcile_command() -> None:
    """Query the issuer for orders stuck in CREATED and fix their state."""
    report = reconcile(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo(
        f"checked {report.checked} pending order(s): {len(report.updated)} updated, "
        f"{len(report.failed)} failed"
    )
    for no in report.updated:
        click.echo(f"  updated {no}")
    for no in report.failed:
        click.echo(f"  FAILED  {no}", err=True)
    if report.failed:
        raise SystemExit(1)
