"""Repayment schedules: the normative fen-exact engine behind every plan.

Everything is computed in integer minor units with one rounding rule (half-up to the minor
unit, at the points docs/plans.md names), so the SDK, the mock issuer and any other
implementation that follows the same rules produce the same fen for the same inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs
from dateutil.relativedelta import relativedelta

from . import apr as _apr
from .errors import MoneyError, PlanError
from .money import Money
from .plan_terms import MAX_PERIODS, FeePayer, Frequency, Method, PlanTerms

__all__ = ["Installment", "Schedule", "build_schedule", "check_start", "due_dates", "rate_display"]

_DISPLAY = Decimal("0.0001")


def rate_display(rate: Decimal) -> str:
    """A rate as the 4-place decimal string of the wire (``"0.1235"`` is 12.35 %)."""
    return str(rate.quantize(_DISPLAY, rounding=ROUND_HALF_UP))


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
        share = _half_up(principal, n)
        last = principal - share * (n - 1)
        if share < 1 or last < 1:
            raise PlanError(
                f"{principal} minor units cannot be split into {n} installments of at least "
                "one minor unit each; use a larger amount or fewer periods"
            )
        parts = [share] * (n - 1) + [last]
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


def build_schedule(principal: Money, terms: PlanTerms, *, start: date) -> Schedule:
    """The repayment schedule of ``principal`` under ``terms`` for a purchase on ``start``."""
    if not isinstance(principal, Money):
        raise PlanError(f"principal must be Money, not {type(principal).__name__}")
    if principal.minor <= 0:
        raise PlanError(f"principal must be positive, got {principal}")
    if not isinstance(terms, PlanTerms):
        raise PlanError(f"terms must be PlanTerms, not {type(terms).__name__}")
    start = check_start(start)
    minor, currency = principal.minor, principal.currency
    parts, interest, fees, merchant = _rows(minor, terms)
    mn, md = _ratio(terms.merchant_fee_rate)
    merchant += _half_up(minor * mn, md) if mn else 0
    dates = _due_dates(start, terms.periods, terms.method, terms.frequency, terms.due_day)
    rows = _money_rows(currency, dates, parts, interest, fees)
    return Schedule(principal, terms, start, tuple(rows), Money._of_minor(merchant, currency))


def _sum(items: tuple[Installment, ...], field: str, currency: str) -> Money:
    return Money._of_minor(sum(getattr(i, field).minor for i in items), currency)


@attrs.frozen
class Schedule:
    """An installment plan priced for one purchase; re-planning returns a new Schedule.

    ``principal`` is the amount financed (reduced by refunds); ``merchant_fee`` is what the
    merchant pays for the plan, fixed at purchase.
    """

    principal: Money
    terms: PlanTerms
    start: date
    installments: tuple[Installment, ...]
    merchant_fee: Money

    # --- totals -------------------------------------------------------------------------

    @property
    def currency(self) -> str:
        return self.principal.currency

    @property
    def total_amount(self) -> Money:
        return _sum(self.installments, "amount", self.currency)

    @property
    def total_interest(self) -> Money:
        return _sum(self.installments, "interest", self.currency)

    @property
    def total_fees(self) -> Money:
        return _sum(self.installments, "fee", self.currency)

    @property
    def outstanding_principal(self) -> Money:
        unpaid = tuple(i for i in self.installments if not i.paid)
        return _sum(unpaid, "principal", self.currency)

    @property
    def next_due(self) -> Installment | None:
        return next((i for i in self.installments if not i.paid and i.amount.minor), None)

    def _unit(self) -> _apr.UnitPeriod | None:
        if self.terms.periods < 2:
            return None
        if self.terms.frequency is Frequency.MONTHLY:
            return _apr.UnitPeriod.MONTH
        return _apr.UnitPeriod.TWO_WEEKS

    @functools.cached_property
    def _rate(self) -> tuple[Decimal, Decimal]:
        # The buyer's cash flows: the price advanced at purchase, every installment repaid.
        pay = [(i.due_date, i.amount.minor) for i in self.installments if i.amount]
        advanced = self.principal.minor
        if not advanced or sum(a for _, a in pay) == advanced:
            return Decimal(0), Decimal(1)
        return _apr.periodic_rate([(self.start, advanced)], pay, self._unit(), self._known())

    def _known(self) -> dict[date, tuple[int, int, int]] | None:
        # Installments still on their generated anchored date sit exactly k unit-periods
        # after the start (k months, or k fortnights): no need to count months back.
        terms = self.terms
        if terms.periods < 2 or terms.due_day is not None:
            return None
        known = _anchored(self.start, terms.periods, terms.method, terms.frequency)
        if all(i.due_date in known for i in self.installments):
            return known
        return {i.due_date: known[i.due_date] for i in self.installments if i.due_date in known}

    @property
    def apr(self) -> Decimal:
        """Regulation Z actuarial APR of what the buyer pays (interest-free plans: 0)."""
        return _apr.nominal(*self._rate)

    @property
    def effective_annual_rate(self) -> Decimal:
        """The compound (IRR) annual rate of the same cash flows, as PBOC/EU disclose."""
        return _apr.compound(*self._rate)

    # --- repayments and re-planning -----------------------------------------------------

    def record_payment(self, *, on: date) -> Schedule:
        """Mark the earliest unpaid installment that asks for money as paid."""
        on = check_start(on, "on")
        if on < self.start:
            raise PlanError(f"a payment on {on} is before the purchase on {self.start}")
        due = self.next_due
        if due is None:
            raise PlanError("every installment is already paid; nothing is due")
        rows = tuple(
            attrs.evolve(i, paid=True) if not i.paid and i.number <= due.number else i
            for i in self.installments
        )
        return attrs.evolve(self, installments=rows)

    def _split(self) -> tuple[list[Installment], list[Installment]]:
        paid = [i for i in self.installments if i.paid]
        unpaid = [i for i in self.installments if not i.paid]
        return paid, unpaid

    def after_refund(self, amount: Money, on: date) -> Schedule:
        """Reduce the unpaid principal by ``amount``, pro rata over unpaid installments.

        Paid installments stay as they were; future interest and fees are recomputed on the
        reduced balances (a fee on the reduced principal, none once nothing is owed).
        Refunding more than the unpaid principal raises :class:`PlanError`: money the buyer
        already paid is refunded by the issuer, not by re-planning.
        """
        if not isinstance(amount, Money):
            raise PlanError(f"refund amount must be Money, not {type(amount).__name__}")
        if amount.currency != self.currency:
            raise PlanError(f"refund is in {amount.currency}, the schedule in {self.currency}")
        if amount.minor <= 0:
            raise PlanError(f"refund amount must be positive, got {amount}")
        on = check_start(on, "on")
        if on < self.start:
            raise PlanError(f"a refund on {on} is before the purchase on {self.start}")
        paid, unpaid = self._split()
        owed = sum(i.principal.minor for i in unpaid)
        if amount.minor > owed:
            raise PlanError(
                f"refund {amount} exceeds the unpaid principal "
                f"{Money._of_minor(owed, self.currency)}; the issuer refunds paid money itself"
            )
        shares = amount.allocate([i.principal.minor for i in unpaid])
        parts = [i.principal.minor - s.minor for i, s in zip(unpaid, shares, strict=True)]
        new_principal = self.principal - amount
        _, interest, fees, _ = _rows(new_principal.minor, self.terms, balances_from=parts)
        rows = _money_rows(
            self.currency,
            [i.due_date for i in unpaid],
            parts,
            interest,
            fees,
            first_number=unpaid[0].number,
        )
        return attrs.evolve(self, principal=new_principal, installments=tuple(paid) + tuple(rows))

    def _payoff_row(self, on: date) -> Installment:
        on = check_start(on, "on")
        if on < self.start:
            raise PlanError(f"a payoff on {on} is before the purchase on {self.start}")
        paid, unpaid = self._split()
        if not unpaid:
            raise PlanError("every installment is already paid; nothing to pay off")
        principal = interest = fee = 0
        period_start = paid[-1].due_date if paid else self.start
        for inst in unpaid:
            principal += inst.principal.minor
            if period_start < on or (inst.due_date <= on):
                interest += inst.interest.minor
                fee += inst.fee.minor
            period_start = inst.due_date
        cur = self.currency
        return Installment(
            unpaid[0].number,
            on,
            Money._of_minor(principal, cur),
            Money._of_minor(interest, cur),
            Money._of_minor(fee, cur),
            Money._of_minor(principal + interest + fee, cur),
            Money._of_minor(0, cur),
            paid=True,
        )

    def payoff_amount(self, on: date) -> Money:
        """What paying everything off on ``on`` costs (see :meth:`payoff`)."""
        return self._payoff_row(on).amount

    def payoff(self, on: date) -> Schedule:
        """Settle the plan early on ``on``: one paid installment replaces the unpaid ones.

        It carries all unpaid principal plus the interest and fees of periods that began
        before ``on`` (or fell due by then); later periods are not charged.
        """
        paid, _ = self._split()
        return attrs.evolve(self, installments=(*paid, self._payoff_row(on)))

    # --- wire form ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "principal": self.principal.to_json(),
            "start_date": self.start.isoformat(),
            "terms": self.terms.to_json(),
            "installments": [i.to_json() for i in self.installments],
            "total_amount": self.total_amount.to_json(),
            "total_interest": self.total_interest.to_json(),
            "total_fees": self.total_fees.to_json(),
            "merchant_fee": self.merchant_fee.to_json(),
            "apr": rate_display(self.apr),
            "effective_annual_rate": rate_display(self.effective_annual_rate),
        }

    @classmethod
    def from_json(cls, data: object) -> Schedule:
        """Parse :meth:`to_json` output strictly; totals must agree with the installments."""
        if not isinstance(data, Mapping):
            raise PlanError("a schedule must be an object")
        required = {"principal", "start_date", "terms", "installments", "merchant_fee"}
        derived = {"total_amount", "total_interest", "total_fees", "apr"}
        derived.add("effective_annual_rate")
        missing = required - set(data)
        if missing:
            raise PlanError(f"schedule is missing {', '.join(sorted(missing))}")
        extra = set(data) - required - derived
        if extra:
            raise PlanError(f"unknown schedule fields: {', '.join(sorted(map(str, extra)))}")
        try:
            principal = Money.from_json(data["principal"])
            merchant_fee = Money.from_json(data["merchant_fee"])
        except MoneyError as exc:
            raise PlanError(f"schedule: {exc.message}") from None
        raw = data["installments"]
        if not isinstance(raw, list) or not raw:
            raise PlanError("schedule 'installments' must be a non-empty list")
        rows = tuple(Installment.from_json(r) for r in raw)
        if any(r.amount.currency != principal.currency for r in rows):
            raise PlanError("installments must be in the schedule's currency")
        if sum(r.principal.minor for r in rows) != principal.minor:
            raise PlanError("installment principals do not add up to the schedule principal")
        schedule = cls(
            principal,
            PlanTerms.from_json(data["terms"]),
            _parse_date(data["start_date"]),
            rows,
            merchant_fee,
        )
        for key in ("total_amount", "total_interest", "total_fees"):
            if key in data and getattr(schedule, key).to_json() != data[key]:
                raise PlanError(f"schedule {key} does not match its installments")
        return schedule
