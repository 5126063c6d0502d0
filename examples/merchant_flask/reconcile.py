"""Reconciliation: ask the issuer about every order still waiting for news.

Notifications are at least once, but a shop can still miss them (downtime longer than the
retry schedule, a firewall change). Running this from cron (``flask --app
examples.merchant_flask reconcile``) or the admin button means a lost notification never
leaves an order wrong for long.
"""

from __future__ import annotations

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


def reconcile(app: Flask) -> ReconcileReport:
    engine = get_engine(app)
    client = get_client(app)
    updated: list[str] = []
    failed: list[str] = []
    pending = store.list_open_orders(engine)
    for row in pending:
        try:
            checkout = client.checkouts.get(row["checkout_id"])
        except NotFoundError:
            failed.append(row["out_trade_no"])
            continue
        except PayLaterError as exc:
            app.logger.warning("reconcile %s: %s", row["out_trade_no"], exc)
            failed.append(row["out_trade_no"])
            continue
        with engine.begin() as conn:
            if store.apply_checkout(conn, checkout.raw):
                updated.append(row["out_trade_no"])
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
