"""Amortization: the integer arithmetic of a schedule, its due dates and its rows.

Everything here works in integer minor units with one rounding rule, half-up to the minor
unit, applied at exactly the points docs/plans.md names ("normative rounding"), so that any
implementation following those rules produces the same fen. ``_schedule``
assembles the results into a :class:`~paylater_sdk.installments.Schedule`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
from dateutil.relativedelta import relativedelta

from ..errors import MoneyError, PlanError
from ..money import Money
from ._terms import MAX_PERIODS, FeePayer, Frequency, Method, PlanTerms


def _half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-up, for non-negative numerators."""
    return (2 * numerator + denominator) // (2 * denominator)


def _ratio(rate: Decimal) -> tuple[int, int]:
    num, den = rate.as_integer_ratio()
    return num, den


def check_start(start: object, what: str = "start") -> date:
    if isinstance(start, datetime):
        return start.date()
    if not isinstance(start, date):
        raise PlanError(f"{what} must be a datetime.date (the purchase date), got {start!r}")
    return start


def due_dates(terms: PlanTerms, start: date) -> list[date]:
    """Due dates: monthly ones anchored on ``start`` (clamped to month end), never chained."""
    start = check_start(start)
    return list(_due_dates(start, terms.periods, terms.method, terms.frequency, terms.due_day))


_MONTH_STEPS = tuple(relativedelta(months=k) for k in range(MAX_PERIODS + 1))


@functools.lru_cache(maxsize=4096)
def _due_dates(
    start: date, n: int, method: Method, frequency: Frequency, due_day: int | None
) -> tuple[date, ...]:
    # Cached: every quote for one checkout (and every re-plan) asks for the same dates.
    if method is Method.PAY_IN_4:
        return tuple(start + timedelta(days=14 * k) for k in range(n))
    if frequency is Frequency.BIWEEKLY:
        return tuple(start + timedelta(days=14 * k) for k in range(1, n + 1))
    if due_day is not None:
        day = relativedelta(day=due_day)
        return tuple(start + _MONTH_STEPS[k] + day for k in range(1, n + 1))
    return tuple(start + _MONTH_STEPS[k] for k in range(1, n + 1))


@attrs.frozen
class Installment:
    """One due payment. ``remaining_principal`` is the balance once this one is paid."""

    number: int
    due_date: date
    principal: Money
    interest: Money
    fee: Money
    amount: Money
    remaining_principal: Money
    paid: bool = False

    def to_json(self) -> dict[str, Any]:
        """The installment as JSON-ready values (amounts as minor-unit objects)."""
        return {
            "number": self.number,
            "due_date": self.due_date.isoformat(),
            "principal": self.principal.to_json(),
            "interest": self.interest.to_json(),
            "fee": self.fee.to_json(),
            "amount": self.amount.to_json(),
            "remaining_principal": self.remaining_principal.to_json(),
            "paid": self.paid,
        }

    @classmethod
    def from_json(cls, data: object) -> Installment:
        """Rebuild from :meth:`to_json`'s output; raise ValueError on anything else."""
        fields = (
            *("number", "due_date", "principal", "interest", "fee", "amount"),
            *("remaining_principal", "paid"),
        )
        if not isinstance(data, Mapping):
            raise PlanError("an installment must be an object")
        if set(data) != set(fields):
            raise PlanError(f"an installment has exactly the fields {', '.join(fields)}")
        number, paid = data["number"], data["paid"]
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise PlanError("installment 'number' must be a positive integer")
        if not isinstance(paid, bool):
            raise PlanError("installment 'paid' must be true or false")
        try:
            moneys = {k: Money.from_json(data[k]) for k in fields[2:7]}
        except MoneyError as exc:
            raise PlanError(f"installment {number}: {exc.message}") from None
        if any(m.minor < 0 for m in moneys.values()):
            raise PlanError(f"installment {number} has a negative amount")
        m = moneys
        if m["principal"] + m["interest"] + m["fee"] != m["amount"]:
            raise PlanError(f"installment {number}: amount is not principal + interest + fee")
        return cls(number, _parse_date(data["due_date"]), paid=paid, **m)


def _parse_date(value: object) -> date:
    if not isinstance(value, str):
        raise PlanError("dates must be 'YYYY-MM-DD' strings")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or len(value) != 10:
        raise PlanError(f"{value!r} is not a 'YYYY-MM-DD' date")
    return parsed


def _rows(
    principal: int, terms: PlanTerms, balances_from: list[int] | None = None
) -> tuple[list[int], list[int], list[int], int]:
    """(principal parts, interest, fees, merchant-paid fees) in minor units."""
    n = terms.periods
    a, b = _ratio(terms.annual_rate)
    b *= terms.periods_per_year
    if balances_from is not None:
        parts = balances_from
    elif terms.method is Method.EQUAL_PAYMENT and a:
        growth, base = (a + b) ** n, b**n
        level = _half_up(principal * a * growth, b * (growth - base))
        parts, balance = [], principal
        for k in range(n):
            part = balance if k == n - 1 else level - _half_up(balance * a, b)
            if part < 1 or part > balance:
                raise PlanError(
                    f"{principal} minor units is too small to amortize over {n} periods; "
                    "use a larger amount or fewer periods"
                )
            parts.append(part)
            balance -= part
    else:
        parts = equal_parts(principal, n)
    interest: list[int] = []
    balance = sum(parts)
    for part in parts:
        interest.append(_half_up(balance * a, b) if a else 0)
        balance -= part
    fn, fd = _ratio(terms.fee_rate_per_period)
    fee = _half_up(principal * fn, fd) if fn else 0
    merchant = 0
    if terms.fee_payer is FeePayer.MERCHANT:
        merchant, fee = fee * n, 0
    fees = [fee if sum(parts[k:]) else 0 for k in range(len(parts))]
    return parts, interest, fees, merchant


def equal_parts(principal: int, n: int) -> list[int]:
    """Principal split into ``n`` equal parts of at least one minor unit (normative rule 1).

    The rule: each part is ``principal / n`` rounded half-up and the last takes the
    remainder. Where that leaves the last part below one minor unit (0.63 over 14 is
    5 fen x 13 and then -2), the fallback is ``principal / n`` rounded down with the
    remainder (fewer than ``n`` minor units) spread one each over the last installments:
    0.63 over 14 is 7 x 0.04 then 7 x 0.05. Either way the parts add up exactly; only an
    amount below one minor unit per period cannot be split.
    """
    if principal < n:
        raise PlanError(
            f"{principal} minor units cannot be split into {n} installments of at least "
            "one minor unit each; use a larger amount or fewer periods"
        )
    share = _half_up(principal, n)
    last = principal - share * (n - 1)
    if last >= 1:
        return [share] * (n - 1) + [last]
    share, rest = divmod(principal, n)
    return [share] * (n - rest) + [share + 1] * rest


@functools.lru_cache(maxsize=16384)
def _money(minor: int, currency: str) -> Money:
    # Money is immutable, and schedules repeat the same few amounts (equal principal
    # parts, fees, installments) across rows and across quotes: share one instance each.
    return Money._of_minor(minor, currency)


@functools.lru_cache(maxsize=4096)
def _anchored(
    start: date, n: int, method: Method, frequency: Frequency
) -> dict[date, tuple[int, int, int]]:
    dates = _due_dates(start, n, method, frequency, None)
    shift = 0 if method is Method.PAY_IN_4 else 1
    return {due: (k + shift, 0, 1) for k, due in enumerate(dates)}


def _money_rows(
    currency: str,
    dates: Sequence[date],
    parts: list[int],
    interest: list[int],
    fees: list[int],
    first_number: int = 1,
) -> list[Installment]:
    of = _money
    rows: list[Installment] = []
    balance = sum(parts)
    for k, (due, part, intr, fee) in enumerate(zip(dates, parts, interest, fees, strict=True)):
        balance -= part
        rows.append(
            Installment(
                first_number + k,
                due,
                of(part, currency),
                of(intr, currency),
                of(fee, currency),
                of(part + intr + fee, currency),
                of(balance, currency),
            )
        )
    return rows
