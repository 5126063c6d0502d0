"""``paylater plan``: print an installment schedule, its totals, APR and effective rate.

Bad arguments give one line on stderr and exit code 2, so scripts can tell a typo from a
schedule (exit 0) without parsing a usage banner; no input, however odd, shows a traceback.
Rates are fractions (``0.0435``) or percentages with a sign (``4.35%``); a bare ``4.35`` is
refused rather than read as 435 %.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Context, Decimal, InvalidOperation
from typing import Any, NoReturn

import click

from ..errors import PayLaterError
from ..installments import FeePayer, Frequency, Method, PlanTerms, Schedule, build_schedule
from ..money import Money

__all__ = ["plan"]

_METHODS = [m.value.lower().replace("_", "-") for m in Method]


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    raise click.exceptions.Exit(2)


# A token that is a negative number, not an option: "-100", "-0.5", "-.5".
_NEGATIVE = re.compile(r"^-(\d|\.\d)")
# The engine's parameter names as the flags a CLI user typed.
_FLAGS = {
    "annual_rate": "--annual-rate",
    "fee_rate_per_period": "--fee-rate",
    "merchant_fee_rate": "--merchant-fee-rate",
    "due_day": "--due-day",
    "periods": "--periods",
}


def _negative_amount(command: click.Command, args: list[str]) -> str | None:
    """The AMOUNT token if it is a negative number (click would read "-100" as "-1 00")."""
    takes_value = {
        name
        for param in command.params
        if isinstance(param, click.Option) and not param.is_flag
        for name in (*param.opts, *param.secondary_opts)
    }
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--":
            return None
        elif arg in takes_value:
            skip = True
        elif _NEGATIVE.match(arg):
            return arg
        elif not arg.startswith("-"):
            return None  # AMOUNT is the first positional token
    return None


class _OneLineErrors(click.Command):
    """Report usage errors as a single ``Error: ...`` line instead of click's banner."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        negative = _negative_amount(self, args)
        if negative is not None:
            _fail(f"AMOUNT must be positive, got {negative}")
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            _fail(exc.format_message())


def _rate(value: str, flag: str) -> str | Decimal:
    """A rate option: a fraction as given, or "4.35%" as the exact fraction 0.0435."""
    text = value.strip()
    if not text.endswith("%"):
        return text  # PlanTerms parses and range-checks it
    try:
        percent = Decimal(text[:-1].strip())
    except InvalidOperation:
        _fail(f"{flag} {value!r} is not a rate: give a fraction (0.0435) or a percentage (4.35%)")
    if not percent.is_finite():
        _fail(f"{flag} {value!r} is not a finite rate")
    return percent.scaleb(-2, context=Context(prec=60))  # exact, whatever the default context


def _cli_message(message: str) -> str:
    """An engine error in the CLI's own words: flags instead of parameter names."""
    for name, flag in _FLAGS.items():
        if message.startswith(name + " "):
            message = flag + message[len(name) :]
            break
    if "rates are fractions" in message:
        message += " (or give a percentage: 4.35%)"
    return message


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
@click.option("--annual-rate", default="0", help="Yearly interest rate (EQUAL_*): 0.0435 or 4.35%.")
@click.option(
    "--fee-rate", default="0", help="Fee per period on the principal (FLAT_FEE): 0.006 or 0.6%."
)
@click.option(
    "--fee-payer",
    type=click.Choice([p.value.lower() for p in FeePayer], case_sensitive=False),
    default="buyer",
    show_default=True,
)
@click.option(
    "--merchant-fee-rate", default="0", help="One-time fee the merchant pays: 0.02 or 2%."
)
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
    rates = {
        "annual_rate": _rate(annual_rate, "--annual-rate"),
        "fee_rate_per_period": _rate(fee_rate, "--fee-rate"),
        "merchant_fee_rate": _rate(merchant_fee_rate, "--merchant-fee-rate"),
    }
    try:
        price = Money(amount, currency)
    except (PayLaterError, ValueError, TypeError) as exc:
        # The library's hint on Money.rounded() is for Python callers, not for a shell.
        _fail(f"AMOUNT {amount!r}: {str(exc).split(' (round it')[0]}")
    if price.minor <= 0:
        _fail(f"AMOUNT must be positive, got {amount}")
    try:
        extra: dict[str, Any] = {} if frequency is None else {"frequency": frequency}
        terms = PlanTerms(periods, kind, fee_payer=fee_payer, due_day=due_day, **rates, **extra)
        schedule = build_schedule(price, terms, start=when)
        # Rendering computes the APR, which can still refuse odd cash flows: keep it inside.
        output = (
            json.dumps(schedule.to_json(), ensure_ascii=False, indent=2)
            if as_json
            else _table(schedule)
        )
    except (PayLaterError, ValueError, TypeError, ArithmeticError) as exc:
        _fail(_cli_message(str(exc)))
    click.echo(output)
