"""Servicing settings and kinds: what a product decides about repayment, payoff and lateness.

Everything a servicing rule reads from a product lives in one frozen :class:`ServicingPolicy`
so that the issuer stores one value per product and every pure function in ``_payoff``,
``_allocation``, ``_overdue`` and ``_statements`` is deterministic given it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import attrs

from ..errors import PlanError
from ..money import Money
from ._kinds import DEFAULT_ALLOCATION_ORDER, AllocationPart, PayoffFees, ServicingError, parse_enum
from ._quotes import DEFAULT_APR_CAP, CapBasis, _cap_basis
from ._terms import Frequency, Method, PlanTerms, to_rate


def _days(field: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ServicingError(
            f"{field} must be a whole number of days >= {low}, got {value!r}",
            code="INVALID_FIELD",
            field=field,
        )
    return value


def _grace_days(value: object) -> int:
    return _days("grace_days", value, 0)


def _write_off_days(value: object) -> int:
    return _days("write_off_days", value, 1)


def _payoff_fees(value: object) -> PayoffFees:
    return parse_enum(PayoffFees, value, "payoff_fees")


def _order(value: object) -> tuple[AllocationPart, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ServicingError(
            "allocation_order must be a sequence of parts",
            code="INVALID_FIELD",
            field="allocation_order",
        )
    parts = tuple(parse_enum(AllocationPart, v, "allocation_order") for v in value)
    if sorted(p.value for p in parts) != sorted(p.value for p in DEFAULT_ALLOCATION_ORDER):
        raise ServicingError(
            "allocation_order must list PENALTY, LATE_FEE, FEE, INTEREST and PRINCIPAL once each",
            code="INVALID_FIELD",
            field="allocation_order",
        )
    return parts


def _cap_table(value: object) -> tuple[tuple[date, Decimal], ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ServicingError(
            "cap_table must be (date, rate) pairs", code="INVALID_FIELD", field="cap_table"
        )
    rows: list[tuple[date, Decimal]] = []
    for row in value:
        if not isinstance(row, Sequence) or len(row) != 2 or not isinstance(row[0], date):
            raise ServicingError(
                "cap_table rows are (date, rate) pairs", code="INVALID_FIELD", field="cap_table"
            )
        rows.append((row[0], _rate(row[1], "cap_table")))
    return tuple(sorted(rows))


def _due_day(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 31:
        raise ServicingError(
            f"due_day must be a day of month 1..31 or None, got {value!r}",
            code="INVALID_FIELD",
            field="due_day",
        )
    return value


def _late_fee(value: object) -> Money | None:
    if value is None:
        return None
    if not isinstance(value, Money) or value.minor <= 0:
        raise ServicingError(
            "late_fee must be None or a positive Money", code="INVALID_FIELD", field="late_fee"
        )
    return value


def _basis(value: object) -> CapBasis:
    try:
        return _cap_basis(value)
    except ValueError as exc:
        raise ServicingError(str(exc), code="INVALID_FIELD", field="cap_basis") from None


def _rate(value: object, field: str) -> Decimal:
    try:
        return to_rate(value, field)
    except (PlanError, TypeError) as exc:
        raise ServicingError(str(exc), code="INVALID_FIELD", field=field) from None


def _cap(value: object) -> Decimal:
    return _rate(value, "annual_cost_cap")


def _max_daily(value: object) -> Decimal:
    return _rate(value, "max_daily_penalty")


@attrs.frozen
class ServicingPolicy:
    """A product's servicing settings (defaults follow docs/servicing.md).

    ``annual_cost_cap`` is the legal ceiling of the annualized cost (24 %); ``cap_table``,
    when set, is a date-aware ceiling (for example 4 x the one-year LPR) as
    ``(effective_from, rate)`` pairs: an order is held to the row in force on its purchase
    date, the contract date the courts look at. ``cap_basis`` names the plan rate the cap is
    compared with (the compound rate by default, as :func:`quote_plans` does; it is never
    below the nominal APR, so the nominal APR is within the cap as well). ``due_day``, when
    set, is the product's one repayment day: every monthly plan of the product is dated on
    it (:meth:`terms_for`), at checkout (the quote and its APR) and at capture alike.
    """

    grace_days: int = attrs.field(default=3, converter=_grace_days)
    annual_cost_cap: Decimal = attrs.field(default=DEFAULT_APR_CAP, converter=_cap)
    cap_table: tuple[tuple[date, Decimal], ...] = attrs.field(default=(), converter=_cap_table)
    cap_basis: CapBasis = attrs.field(default=CapBasis.EFFECTIVE, converter=_basis)
    max_daily_penalty: Decimal = attrs.field(default=Decimal("0.0005"), converter=_max_daily)
    late_fee: Money | None = attrs.field(default=None, converter=_late_fee)
    allocation_order: tuple[AllocationPart, ...] = attrs.field(
        default=DEFAULT_ALLOCATION_ORDER, converter=_order
    )
    payoff_fees: PayoffFees = attrs.field(
        default=PayoffFees.CURRENT_PERIOD,
        converter=_payoff_fees,
    )
    write_off_days: int = attrs.field(default=180, converter=_write_off_days)
    due_day: int | None = attrs.field(default=None, converter=_due_day)

    def terms_for(self, terms: PlanTerms) -> PlanTerms:
        """``terms`` dated on this product's ``due_day`` (unchanged when it has none).

        A ``due_day`` only dates monthly plans: a bi-weekly or pay-in-4 product with one is
        refused (``INVALID_FIELD`` on ``due_day``), never silently ignored.
        """
        if self.due_day is None or terms.due_day == self.due_day:
            return terms
        if terms.frequency is not Frequency.MONTHLY or terms.method is Method.PAY_IN_4:
            raise ServicingError(
                "due_day only applies to MONTHLY plans", code="INVALID_FIELD", field="due_day"
            )
        return attrs.evolve(terms, due_day=self.due_day)

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON-ready values (rates as decimal strings, amounts as Money)."""
        return {
            "grace_days": self.grace_days,
            "annual_cost_cap": str(self.annual_cost_cap),
            "cap_table": [{"from": d.isoformat(), "rate": str(r)} for d, r in self.cap_table],
            "cap_basis": self.cap_basis.value,
            "max_daily_penalty": str(self.max_daily_penalty),
            "late_fee": None if self.late_fee is None else self.late_fee.to_json(),
            "allocation_order": [p.value for p in self.allocation_order],
            "payoff_fees": self.payoff_fees.value,
            "write_off_days": self.write_off_days,
            "due_day": self.due_day,
        }

    @classmethod
    def from_json(cls, data: object) -> ServicingPolicy:
        """Parse :meth:`to_json` output strictly; missing keys take their defaults."""
        if not isinstance(data, Mapping):
            raise ServicingError("a servicing policy must be an object", code="INVALID_FIELD")
        extra = set(data) - set(attrs.fields_dict(cls))
        if extra:
            name = sorted(map(str, extra))[0]
            raise ServicingError(f"unknown setting {name!r}", code="INVALID_FIELD", field=name)
        values = dict(data)
        try:
            if "cap_table" in values:
                values["cap_table"] = [
                    (date.fromisoformat(row["from"]), row["rate"]) for row in values["cap_table"]
                ]
        except (KeyError, TypeError, ValueError):
            raise ServicingError(
                "cap_table rows are {from: 'YYYY-MM-DD', rate}",
                code="INVALID_FIELD",
                field="cap_table",
            ) from None
        if values.get("late_fee") is not None:
            try:
                values["late_fee"] = Money.from_json(values["late_fee"])
            except ValueError as exc:
                raise ServicingError(str(exc), code="INVALID_FIELD", field="late_fee") from None
        return cls(**values)

    def cap_on(self, day: date) -> Decimal:
        """The annual cost cap for a contract made on ``day``."""
        cap = self.annual_cost_cap
        for since, rate in self.cap_table:
            if since <= day:
                cap = rate
        return cap


#: The default settings: 3 days of grace, 24 % cap, 0.05 % a day at most, no late fee.
DEFAULT_POLICY = ServicingPolicy()


#: One policy for every account, or each account's policy by order id (a buyer's orders
#: may be of different products).
Policies = ServicingPolicy | Mapping[str, ServicingPolicy]


def policy_of(policies: Policies, order_id: str) -> ServicingPolicy:
    """The policy of the order ``order_id`` among ``policies``."""
    if isinstance(policies, ServicingPolicy):
        return policies
    try:
        return policies[order_id]
    except KeyError:
        raise ServicingError(
            f"no servicing policy for order {order_id!r}", code="INVALID_FIELD", field="policy"
        ) from None


def allocation_order_of(policies: Sequence[ServicingPolicy]) -> tuple[AllocationPart, ...]:
    """The allocation order of a repayment over orders with ``policies``: theirs when they
    agree (always for one order), else the documented default. A buyer-wide repayment has
    one waterfall; mixing two products' orders in it would pay neither in its own order."""
    orders = {p.allocation_order for p in policies}
    return orders.pop() if len(orders) == 1 else DEFAULT_ALLOCATION_ORDER
