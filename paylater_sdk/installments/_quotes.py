"""Offers and quotes: what a checkout or product page shows for one price.

An issuer's catalogue is a list of :class:`PlanOffer`; :func:`quote_plans` prices each for
one amount and drops those that do not apply (amount out of range, other currency) or
whose annual rate is above a regulatory ceiling. The ceiling is a setting because it is a
legal judgement, not arithmetic: Chinese courts have cited 24 % and 36 % and now 4x the
one-year LPR; the default 24 % is the conservative one. It is compared with the rate it
names: by default the compound (effective) figure PBOC 2021 No. 3 asks lenders to disclose,
which is never below the nominal APR, so a 23.53 % nominal / 26.24 % effective offer does
not pass a 24 % cap.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import attrs

from ..errors import PlanError
from ..money import Money
from ._amortization import check_start
from ._schedule import Schedule, build_schedule, rate_display
from ._terms import FeePayer, Frequency, Method, PlanTerms, to_rate

#: The default APR ceiling for :func:`quote_plans` (24 %, the long-cited PRC threshold).
DEFAULT_APR_CAP = Decimal("0.24")


class CapBasis(enum.Enum):
    """Which annual rate an APR cap is compared with."""

    EFFECTIVE = "effective"  # compound (IRR) annual rate: Schedule.effective_annual_rate
    NOMINAL = "nominal"  # Regulation Z actuarial APR: Schedule.apr

    __hash__ = object.__hash__

    def rate_of(self, schedule: Schedule) -> Decimal:
        return schedule.effective_annual_rate if self is CapBasis.EFFECTIVE else schedule.apr


def _cap_basis(value: object) -> CapBasis:
    if isinstance(value, CapBasis):
        return value
    if isinstance(value, str):
        try:
            return CapBasis(value.strip().lower())
        except ValueError:
            pass
    raise PlanError(f"cap_basis must be 'effective' or 'nominal', got {value!r}")


_PLAN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _plan_id(value: object) -> str:
    if not isinstance(value, str) or not _PLAN_ID.match(value):
        raise PlanError(
            f"plan_id {value!r} must be 1-64 letters, digits, '-', '_' or '.' (e.g. 'fenfu-6')"
        )
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PlanError("an offer needs a non-empty display name")
    return value


def _money(name: str) -> Any:
    def check(_: object, __: object, value: object) -> None:
        if not isinstance(value, Money):
            raise PlanError(f"{name} must be Money, not {type(value).__name__}")
        if value.minor <= 0:
            raise PlanError(f"{name} must be positive, got {value}")

    return check


@attrs.frozen
class PlanOffer:
    """An issuer's product: plan terms available for amounts within ``[min, max]``."""

    plan_id: str = attrs.field(converter=_plan_id)
    name: str = attrs.field(converter=_name)
    terms: PlanTerms = attrs.field()
    min_amount: Money = attrs.field(validator=_money("min_amount"))
    max_amount: Money = attrs.field(validator=_money("max_amount"))

    @terms.validator
    def _check_terms(self, _: object, value: object) -> None:
        if not isinstance(value, PlanTerms):
            raise PlanError(f"terms must be PlanTerms, not {type(value).__name__}")

    def __attrs_post_init__(self) -> None:
        if self.min_amount.currency != self.max_amount.currency:
            raise PlanError("min_amount and max_amount must be in the same currency")
        if self.min_amount > self.max_amount:
            raise PlanError(f"min_amount {self.min_amount} is above max_amount {self.max_amount}")

    @property
    def currency(self) -> str:
        """The currency this offer lends in (that of its amount range)."""
        return self.min_amount.currency

    def accepts(self, amount: Money) -> bool:
        """True when ``amount`` is in this offer's currency and range."""
        return amount.currency == self.currency and self.min_amount <= amount <= self.max_amount


def _regular(schedule: Schedule) -> Money:
    # The amount most installments ask for (ties: the larger, so the page never understates).
    counts = Counter(i.amount for i in schedule.installments)
    best = max(counts.values())
    return max(m for m, c in counts.items() if c == best)


@attrs.frozen
class PlanQuote:
    """One offer priced for one amount: the numbers a checkout page must disclose."""

    plan_id: str
    name: str
    terms: PlanTerms
    amount: Money
    schedule: Schedule

    @property
    def first_payment(self) -> Money:
        """The first installment, which may differ from the rest (odd first period, rounding)."""
        return self.schedule.installments[0].amount

    @property
    def regular_payment(self) -> Money:
        """The amount most installments ask for: the "¥X/期" a page shows."""
        return _regular(self.schedule)

    @property
    def total_amount(self) -> Money:
        """Everything the buyer pays over the plan: principal, interest and buyer-paid fees."""
        return self.schedule.total_amount

    @property
    def total_cost(self) -> Money:
        """What the buyer pays beyond the price: interest plus buyer-paid fees."""
        return self.schedule.total_interest + self.schedule.total_fees

    @property
    def apr(self) -> Decimal:
        """The disclosed annual percentage rate (Regulation Z actuarial method), a fraction."""
        return self.schedule.apr

    @property
    def effective_annual_rate(self) -> Decimal:
        """The compound annual rate (EU APRC / PBOC IRR figure), a fraction."""
        return self.schedule.effective_annual_rate

    def to_json(self) -> dict[str, Any]:
        """The PlanQuote object of docs/api.md (rates as 4-place decimal strings)."""
        return {
            "plan_id": self.plan_id,
            "name": self.name,
            "method": self.terms.method.value,
            "periods": self.terms.periods,
            "frequency": self.terms.frequency.value,
            "fee_payer": self.terms.fee_payer.value,
            "first_payment": self.first_payment.to_json(),
            "regular_payment": self.regular_payment.to_json(),
            "total_amount": self.total_amount.to_json(),
            "total_cost": self.total_cost.to_json(),
            "apr": rate_display(self.apr),
            "effective_annual_rate": rate_display(self.effective_annual_rate),
        }


def _cap(apr_cap: object) -> Decimal | None:
    return None if apr_cap is None else to_rate(apr_cap, "apr_cap")


def quote_plans(
    amount: Money,
    offers: Iterable[PlanOffer],
    *,
    start: date,
    apr_cap: Decimal | None = DEFAULT_APR_CAP,
    cap_basis: CapBasis | str = CapBasis.EFFECTIVE,
) -> list[PlanQuote]:
    """Price every applicable offer for ``amount``, sorted by periods then plan_id.

    Offers whose range or currency does not fit are left out, and so is any whose rate is
    above ``apr_cap`` (``None`` disables the ceiling). ``cap_basis`` names the rate the cap
    is compared with: ``"effective"`` (default: the compound rate PBOC 2021 No. 3 asks
    lenders to disclose) or ``"nominal"`` (the Regulation Z APR).
    """
    if not isinstance(amount, Money):
        raise PlanError(f"amount must be Money, not {type(amount).__name__}")
    if amount.minor <= 0:
        raise PlanError(f"amount must be positive, got {amount}")
    if start is None:
        raise PlanError("start (the purchase date) is required to date the installments")
    start = check_start(start)
    cap = _cap(apr_cap)
    basis = _cap_basis(cap_basis)
    if isinstance(offers, PlanOffer) or not isinstance(offers, Iterable):
        raise PlanError("offers must be an iterable of PlanOffer")
    quotes: list[PlanQuote] = []
    for offer in offers:
        if not isinstance(offer, PlanOffer):
            raise PlanError(f"offers must be PlanOffer, got {type(offer).__name__}")
        if not offer.accepts(amount):
            continue
        try:
            schedule = build_schedule(amount, offer.terms, start=start)
        except PlanError:
            continue  # too small to split into this many installments
        if cap is not None and basis.rate_of(schedule) > cap:
            continue
        quotes.append(PlanQuote(offer.plan_id, offer.name, offer.terms, amount, schedule))
    quotes.sort(key=lambda q: (q.terms.periods, q.plan_id))
    return quotes


def as_low_as(
    amount: Money,
    offers: Iterable[PlanOffer],
    *,
    start: date | None = None,
    apr_cap: Decimal | None = DEFAULT_APR_CAP,
    cap_basis: CapBasis | str = CapBasis.EFFECTIVE,
) -> Money | None:
    """The "as low as ¥X/月" figure: the smallest regular monthly payment, or None."""
    quotes = quote_plans(
        amount, offers, start=start or date.today(), apr_cap=apr_cap, cap_basis=cap_basis
    )
    monthly = [q.regular_payment for q in quotes if q.terms.frequency is Frequency.MONTHLY]
    return min(monthly) if monthly else None


def _cny(yuan: int) -> Money:
    return Money(yuan, "CNY")


#: A small CNY catalogue (分付/花呗-style), offered by the mock issuer by default. Every
#: APR stays well under the 24 % ceiling (3 periods: ~13.5 %, 6: ~12.3 %, 12: ~13.8 %).
STANDARD_OFFERS: tuple[PlanOffer, ...] = (
    PlanOffer(
        "free-3",
        "3期免息 3 interest-free installments",
        PlanTerms(
            3, Method.INTEREST_FREE, fee_rate_per_period="0.006", fee_payer=FeePayer.MERCHANT
        ),
        _cny(100),
        _cny(50_000),
    ),
    PlanOffer(
        "fenfu-3",
        "3期 3 installments",
        PlanTerms(3, Method.FLAT_FEE, fee_rate_per_period="0.0075"),
        _cny(100),
        _cny(50_000),
    ),
    PlanOffer(
        "fenfu-6",
        "6期 6 installments",
        PlanTerms(6, Method.FLAT_FEE, fee_rate_per_period="0.006"),
        _cny(100),
        _cny(50_000),
    ),
    PlanOffer(
        "fenfu-12",
        "12期 12 installments",
        PlanTerms(12, Method.FLAT_FEE, fee_rate_per_period="0.00625"),
        _cny(100),
        _cny(50_000),
    ),
)
