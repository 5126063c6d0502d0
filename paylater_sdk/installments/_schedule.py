"""Repayment schedules: the normative fen-exact engine behind every plan.

Everything is computed in integer minor units with one rounding rule (half-up to the minor
unit, at the points docs/plans.md names), so the SDK, the mock issuer and any other
implementation that follows the same rules produce the same fen for the same inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs

from ..errors import MoneyError, PlanError
from ..money import Money
from . import _apr, _payoff
from ._amortization import (
    Installment,
    _anchored,
    _due_dates,
    _half_up,
    _money_rows,
    _parse_date,
    _ratio,
    _rows,
    check_start,
)
from ._kinds import AllocationPart, PayoffFees, ServicingError, parse_enum
from ._terms import Frequency, PlanTerms
from ._unit_periods import UnitPeriod

_DISPLAY = Decimal("0.0001")


def rate_display(rate: Decimal) -> str:
    """A rate as the 4-place decimal string of the wire (``"0.1235"`` is 12.35 %)."""
    return str(rate.quantize(_DISPLAY, rounding=ROUND_HALF_UP))


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
    try:
        dates = _due_dates(start, terms.periods, terms.method, terms.frequency, terms.due_day)
    except (ValueError, OverflowError):
        raise PlanError(
            f"a plan starting on {start} would fall due after the year 9999 (the calendar's end)"
        ) from None
    rows = _money_rows(currency, dates, parts, interest, fees)
    return Schedule(principal, terms, start, tuple(rows), Money._of_minor(merchant, currency))


def _parse_refunds(raw: object, currency: str, start: date) -> tuple[tuple[date, Money], ...]:
    if not isinstance(raw, list):
        raise PlanError("schedule 'refunds' must be a list of {date, amount} objects")
    out: list[tuple[date, Money]] = []
    for item in raw:
        if not isinstance(item, Mapping) or set(item) != {"date", "amount"}:
            raise PlanError("each refund has exactly the fields date, amount")
        try:
            amount = Money.from_json(item["amount"])
        except MoneyError as exc:
            raise PlanError(f"refund: {exc.message}") from None
        on = _parse_date(item["date"])
        if amount.currency != currency or amount.minor <= 0 or on < start:
            raise PlanError(
                "a refund is a positive amount in the schedule's currency, "
                "dated on or after the schedule's start"
            )
        out.append((on, amount))
    return tuple(out)


def _sum(items: tuple[Installment, ...], field: str, currency: str) -> Money:
    return Money._of_minor(sum(getattr(i, field).minor for i in items), currency)


@attrs.frozen
class Schedule:
    """An installment plan priced for one purchase; re-planning returns a new Schedule.

    ``principal`` is the amount financed (reduced by refunds); ``merchant_fee`` is what the
    merchant pays for the plan, fixed at purchase; ``refunds`` are the ``(date, amount)``
    credits :meth:`after_refund` applied, kept so the APR describes the buyer's actual
    cash flows.
    """

    principal: Money
    terms: PlanTerms
    start: date
    installments: tuple[Installment, ...]
    merchant_fee: Money
    refunds: tuple[tuple[date, Money], ...] = ()

    # --- totals -------------------------------------------------------------------------

    @property
    def currency(self) -> str:
        """The currency of every amount in the schedule."""
        return self.principal.currency

    @property
    def total_amount(self) -> Money:
        """The sum of all installments (paid or not), exact to the minor unit."""
        return _sum(self.installments, "amount", self.currency)

    @property
    def total_interest(self) -> Money:
        """The sum of the installments' interest."""
        return _sum(self.installments, "interest", self.currency)

    @property
    def total_fees(self) -> Money:
        """The sum of the installments' buyer-paid fees."""
        return _sum(self.installments, "fee", self.currency)

    @property
    def outstanding_principal(self) -> Money:
        """Principal of the unpaid installments: what the buyer's credit line still carries."""
        unpaid = tuple(i for i in self.installments if not i.paid)
        return _sum(unpaid, "principal", self.currency)

    @property
    def next_due(self) -> Installment | None:
        """The first unpaid installment with something to pay, or None when all is paid."""
        return next((i for i in self.installments if not i.paid and i.amount.minor), None)

    def _unit(self) -> UnitPeriod | None:
        if self.terms.periods < 2:
            return None
        if self.terms.frequency is Frequency.MONTHLY:
            return UnitPeriod.MONTH
        return UnitPeriod.TWO_WEEKS

    @property
    def advanced(self) -> Money:
        """The amount advanced at purchase: ``principal`` plus every refund since."""
        return Money._of_minor(
            self.principal.minor + sum(m.minor for _, m in self.refunds), self.currency
        )

    @functools.cached_property
    def _rate(self) -> tuple[Decimal, Decimal]:
        # The buyer's actual cash flows: the purchase price advanced on the purchase day,
        # each installment (paid or still due) on its due date, each refund credited on its
        # date. Not the reduced principal as if advanced at purchase: that would charge the
        # interest and fees already paid on the refunded part to what is left.
        pay = [(i.due_date, i.amount.minor) for i in self.installments if i.amount.minor]
        advanced = self.principal.minor
        for on, refund in self.refunds:
            pay.append((on, refund.minor))
            advanced += refund.minor
        if not advanced or sum(a for _, a in pay) == advanced:
            return Decimal(0), Decimal(1)
        return _apr.periodic_rate(
            [(self.start, advanced)], pay, self._unit(), self._known(), self.terms.due_day
        )

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
        already paid is refunded by the issuer, not by re-planning. The refund is recorded
        in ``refunds`` as a credit on ``on``, and ``apr`` / ``effective_annual_rate`` then
        describe the advance at purchase, the payments and this credit.
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
        return attrs.evolve(
            self,
            principal=new_principal,
            installments=tuple(paid) + tuple(rows),
            refunds=(*self.refunds, (on, amount)),
        )

    def _payoff_charges(self, on: object, payoff_fees: object) -> _payoff.Charges:
        if not isinstance(on, date):
            raise ServicingError(
                f"on must be a datetime.date, got {on!r}", code="INVALID_DATE", field="on"
            )
        on = check_start(on, "on")
        if on < self.start:
            raise ServicingError(
                f"a payoff on {on} is before the purchase on {self.start}",
                code="INVALID_DATE",
                field="on",
            )
        if all(i.paid for i in self.installments):
            raise ServicingError(
                "every installment is already paid; nothing to pay off", code="NOTHING_OWED"
            )
        fees = parse_enum(PayoffFees, payoff_fees, "payoff_fees")
        return _payoff.payoff_charges(self, _payoff.rests_of(self), on, fees)

    def payoff_quote(
        self, on: date, *, payoff_fees: PayoffFees | str = PayoffFees.CURRENT_PERIOD
    ) -> _payoff.PayoffQuote:
        """The breakdown of :meth:`payoff_amount` (docs/servicing.md, "Payoff").

        Everything due by ``on`` and unpaid, the remaining principal, interest accrued by
        days in the period in progress (EQUAL_* plans) and the fees ``payoff_fees`` names
        (``CURRENT_PERIOD`` by default). A bare schedule knows no payment dates, so its
        quote has no penalty; an :class:`OrderAccount`'s quote adds it.
        """
        charges = self._payoff_charges(on, payoff_fees)
        fees = parse_enum(PayoffFees, payoff_fees, "payoff_fees")
        return _payoff.quote_of(charges, check_start(on, "on"), self.currency, fees)

    def _payoff_row(self, on: date) -> Installment:
        charges = self._payoff_charges(on, PayoffFees.CURRENT_PERIOD)
        unpaid = [i for i in self.installments if not i.paid]
        principal = charges.total(AllocationPart.PRINCIPAL)
        interest = charges.total(AllocationPart.INTEREST)
        fee = charges.total(AllocationPart.FEE)
        cur = self.currency
        return Installment(
            unpaid[0].number,
            check_start(on, "on"),
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

        It carries :meth:`payoff_quote`'s total: everything due by ``on``, the remaining
        principal, the interest accrued by days in the period in progress (EQUAL_* plans) and
        the fee of a period that began before ``on`` (FLAT_FEE); later periods cost nothing.
        """
        paid, _ = self._split()
        return attrs.evolve(self, installments=(*paid, self._payoff_row(on)))

    # --- wire form ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The Schedule object of docs/api.md: terms, installments, totals and rates."""
        data = {
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
        if self.refunds:  # only re-planned schedules carry it: plain ones keep their form
            data["refunds"] = [
                {"date": on.isoformat(), "amount": refund.to_json()} for on, refund in self.refunds
            ]
        return data

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
        extra = set(data) - required - derived - {"refunds"}
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
        start = _parse_date(data["start_date"])
        schedule = cls(
            principal,
            PlanTerms.from_json(data["terms"]),
            start,
            rows,
            merchant_fee,
            _parse_refunds(data.get("refunds", []), principal.currency, start),
        )
        for key in ("total_amount", "total_interest", "total_fees"):
            if key in data and getattr(schedule, key).to_json() != data[key]:
                raise PlanError(f"schedule {key} does not match its installments")
        return schedule
