"""``paylater plan``: print an installment schedule, its totals, APR and effective rate.

Bad arguments give one line on stderr and exit code 2, so scripts can tell a typo from a
schedule (exit 0) without parsing a usage banner.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, NoReturn

import click

from ..errors import PayLaterError
from ..installments import (
    FeePayer,
    Frequency,
    Method,
    PlanTerms,
    Schedule,
    build_schedule,
)
from ..money import Money

__all__ = ["plan"]

_METHODS = [m.value.lower().replace("_", "-") for m in Method]


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    raise click.exceptions.Exit(2)


class _OneLineErrors(click.Command):
    """Report usage errors as a single ``Error: ...`` line instead of click's banner."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            _fail(exc.format_message())


def _percent(rate: Any) -> str:
    return f"{rate * 100:.2f} %"


def _table(schedule: Schedule) -> str:
    header = ("#", "due date", "principal", "interest", "fee", "amount", "remaining")
    rows = [
        (
            str(i.number),
            i.due_date.isoformat(),
            f"{i.principal.amount:,}",
            f"{i.interest.amount:,}",
            f"{i.fee.amount:,}",
            f"{i.amount.amount:,}",
            f"{i.remaining_principal.amount:,}",
        )
        for i in schedule.installments
    ]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].rjust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(w) for cell, w in zip(row[2:], widths[2:], strict=True)]
        lines.append("  ".join(cells))
    cur = schedule.currency
    lines += [
        "",
        f"Principal:      {schedule.principal.amount:,} {cur}",
        f"Total amount:   {schedule.total_amount.amount:,} {cur}",
        f"Total interest: {schedule.total_interest.amount:,} {cur}",
        f"Total fees:     {schedule.total_fees.amount:,} {cur}",
        f"Merchant fee:   {schedule.merchant_fee.amount:,} {cur}",
        f"APR (Reg Z actuarial):  {_percent(schedule.apr)}",
        f"Effective annual rate:  {_percent(schedule.effective_annual_rate)}",
    ]
    return "\n".join(lines)


@click.command(cls=_OneLineErrors)
@click.argument("amount")
@click.option("--periods", type=int, default=None, help="Number of installments (1..60).")
@click.option(
    "--method",
    type=click.Choice(_METHODS, case_sensitive=False),
    default="equal-payment",
    show_default=True,
    help="How principal, interest and fees are spread.",
)
@click.option("--currency", default="CNY", show_default=True, help="ISO 4217 code.")
@click.option("--annual-rate", default="0", help="Yearly interest rate as a fraction (EQUAL_*).")
@click.option("--fee-rate", default="0", help="Fee per period on the principal (FLAT_FEE).")
@click.option(
    "--fee-payer",
    type=click.Choice([p.value.lower() for p in FeePayer], case_sensitive=False),
    default="buyer",
    show_default=True,
)
@click.option("--merchant-fee-rate", default="0", help="One-time fee the merchant pays.")
@click.option(
    "--frequency",
    type=click.Choice([f.value.lower() for f in Frequency], case_sensitive=False),
    default=None,
    help="monthly (default) or biweekly (default for pay-in-4).",
)
@click.option("--due-day", type=int, default=None, help="Fixed day of month for monthly dues.")
@click.option("--start", default=None, help="Purchase date YYYY-MM-DD (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def plan(
    amount: str,
    periods: int | None,
    method: str,
    currency: str,
    annual_rate: str,
    fee_rate: str,
    fee_payer: str,
    merchant_fee_rate: str,
    frequency: str | None,
    due_day: int | None,
    start: str | None,
    as_json: bool,
) -> None:
    """Print the repayment schedule of AMOUNT (major units, e.g. 12000 or 99.90).

    Example: paylater plan 12000 --periods 12 --method flat-fee --fee-rate 0.006
    """
    kind = Method[method.upper().replace("-", "_")]
    if periods is None:
        if kind is not Method.PAY_IN_4:
            _fail("--periods is required (1..60), e.g. --periods 12")
        periods = 4
    try:
        when = date.fromisoformat(start) if start is not None else date.today()
    except ValueError:
        _fail(f"--start {start!r} is not a date; use YYYY-MM-DD")
    try:
        extra: dict[str, Any] = {} if frequency is None else {"frequency": frequency}
        terms = PlanTerms(
            periods,
            kind,
            annual_rate=annual_rate,
            fee_rate_per_period=fee_rate,
            fee_payer=fee_payer,
            merchant_fee_rate=merchant_fee_rate,
            due_day=due_day,
            **extra,
        )
        schedule = build_schedule(Money(amount, currency), terms, start=when)
    except (PayLaterError, ValueError, TypeError) as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(schedule.to_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(_table(schedule))
