"""What a plan *is*: method, period count, rates and who pays the fee.

:class:`PlanTerms` is validated on creation so that every later step (schedules, quotes,
the issuer's stored plans) can trust it; a bad rate is reported where it was written, not
three layers down as a strange schedule.
"""

from __future__ import annotations

import enum
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs

from ..errors import PlanError

#: The longest plan the engine builds (five years of monthly payments).
MAX_PERIODS = 60

#: The highest ``annual_rate`` accepted (1 = 100 % a year) and the highest fee per period
#: (0.1 = 10 %). Anything above is almost certainly a percentage typed as a fraction.
MAX_ANNUAL_RATE = Decimal(1)
MAX_FEE_RATE_PER_PERIOD = Decimal("0.1")
#: The hint every out-of-range rate error carries.
FRACTIONS_HINT = "rates are fractions: 0.0435 is 4.35 %"
_MAX_RATE_PLACES = 12

_E = TypeVar("_E", bound=enum.Enum)


class Method(enum.Enum):
    """How principal, interest and fees are spread over the installments."""

    EQUAL_PAYMENT = "EQUAL_PAYMENT"  # 等额本息: level payment, interest on the balance
    EQUAL_PRINCIPAL = "EQUAL_PRINCIPAL"  # 等额本金: level principal, interest on the balance
    FLAT_FEE = "FLAT_FEE"  # 本金均分 + a fee per period on the original principal
    INTEREST_FREE = "INTEREST_FREE"  # 免息: the buyer pays the price only
    PAY_IN_4 = "PAY_IN_4"  # four payments 14 days apart, the first at purchase

    # Identity hash (members are singletons): cheap keys for the engine's caches.
    __hash__ = object.__hash__


class Frequency(enum.Enum):
    """How often installments fall due: every month, or every two weeks."""

    MONTHLY = "MONTHLY"
    BIWEEKLY = "BIWEEKLY"

    __hash__ = object.__hash__

    @property
    def periods_per_year(self) -> int:
        """Payment periods in a year (12 or 26): the APR's unit periods per year."""
        return 12 if self is Frequency.MONTHLY else 26


class FeePayer(enum.Enum):
    """Who pays a plan's fee: the buyer (in the installments) or the merchant (免息, subsidy)."""

    BUYER = "BUYER"
    MERCHANT = "MERCHANT"

    __hash__ = object.__hash__


def _places(rate: Decimal) -> int:
    """Decimal places of ``rate`` ignoring trailing zeros ("0.0060" has 3), context-free."""
    _, digits, exponent = rate.as_tuple()
    assert isinstance(exponent, int)  # finite: checked by the caller
    if not any(digits):
        return max(0, -exponent)
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing))


def to_rate(value: object, name: str) -> Decimal:
    """Parse a rate (a fraction: ``"0.006"`` is 0.6 %) from str, int or Decimal."""
    if isinstance(value, float):
        raise TypeError(f"{name} must be a Decimal or a string such as '0.006', never a float")
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise PlanError(f"{name} must be a decimal number, not {type(value).__name__}")
    try:
        rate = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise PlanError(f"{name} {value!r} is not a decimal number") from None
    if not rate.is_finite():
        raise PlanError(f"{name} must be finite, got {value!r}")
    if rate < 0:
        raise PlanError(f"{name} must not be negative, got {rate}")
    if not rate:  # "0E-999999" becomes a plain 0: no odd exponent reaches the arithmetic
        return rate if _places(rate) <= _MAX_RATE_PLACES else Decimal(0)
    if _places(rate) > _MAX_RATE_PLACES:
        raise PlanError(f"{name} {value!r} has more than {_MAX_RATE_PLACES} decimal places")
    return rate


def _enum(kind: type[_E], name: str, value: object) -> _E:
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        key = value.strip().upper().replace("-", "_")
        try:
            return kind[key]
        except KeyError:
            pass
    allowed = ", ".join(str(m.value) for m in kind)
    raise PlanError(f"unknown {name} {value!r}: use one of {allowed}")


def _method(value: object) -> Method:
    return _enum(Method, "method", value)


def _frequency(value: object) -> Frequency:
    return _enum(Frequency, "frequency", value)


def _fee_payer(value: object) -> FeePayer:
    return _enum(FeePayer, "fee_payer", value)


def _annual_rate(value: object) -> Decimal:
    return to_rate(value, "annual_rate")


def _fee_rate(value: object) -> Decimal:
    return to_rate(value, "fee_rate_per_period")


def _merchant_fee_rate(value: object) -> Decimal:
    return to_rate(value, "merchant_fee_rate")


def _periods(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(f"periods must be an int, not {type(value).__name__}")
    if not 1 <= value <= MAX_PERIODS:
        raise PlanError(f"periods must be between 1 and {MAX_PERIODS}, got {value}")
    return value


def _due_day(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 31:
        raise PlanError(f"due_day must be a day of month 1..31 or None, got {value!r}")
    return value


def _default_frequency(self: PlanTerms) -> Frequency:
    return Frequency.BIWEEKLY if self.method is Method.PAY_IN_4 else Frequency.MONTHLY


@attrs.frozen
class PlanTerms:
    """The terms of one installment plan.

    ``annual_rate`` is the nominal yearly interest rate of the EQUAL_* methods (the periodic
    rate is ``annual_rate / 12`` or ``/ 26``). ``fee_rate_per_period`` is the 分付/花呗-style
    fee on the original principal charged each period (FLAT_FEE; INTEREST_FREE only when the
    merchant pays it). ``merchant_fee_rate`` is a one-time fee on the principal that the
    merchant pays for offering the plan. ``due_day`` fixes the day of month of monthly dues
    instead of anchoring them on the purchase date.
    """

    periods: int = attrs.field(converter=_periods)
    method: Method = attrs.field(converter=_method)
    annual_rate: Decimal = attrs.field(default=Decimal(0), converter=_annual_rate)
    fee_rate_per_period: Decimal = attrs.field(default=Decimal(0), converter=_fee_rate)
    fee_payer: FeePayer = attrs.field(default=FeePayer.BUYER, converter=_fee_payer)
    merchant_fee_rate: Decimal = attrs.field(default=Decimal(0), converter=_merchant_fee_rate)
    frequency: Frequency = attrs.field(
        default=attrs.Factory(_default_frequency, takes_self=True),
        converter=_frequency,
    )
    due_day: int | None = attrs.field(default=None, converter=_due_day)

    def __attrs_post_init__(self) -> None:
        method = self.method
        if self.annual_rate > MAX_ANNUAL_RATE:
            raise PlanError(
                f"annual_rate {self.annual_rate} is above 1 (100 % a year); {FRACTIONS_HINT}"
            )
        if self.fee_rate_per_period > MAX_FEE_RATE_PER_PERIOD:
            raise PlanError(
                f"fee_rate_per_period {self.fee_rate_per_period} is above 0.1 (10 % a period); "
                f"{FRACTIONS_HINT}"
            )
        if self.merchant_fee_rate >= 1:
            raise PlanError(f"merchant_fee_rate must be below 1, got {self.merchant_fee_rate}")
        if self.annual_rate and method not in (Method.EQUAL_PAYMENT, Method.EQUAL_PRINCIPAL):
            raise PlanError(
                f"annual_rate applies to EQUAL_PAYMENT and EQUAL_PRINCIPAL, not {method.value}; "
                "FLAT_FEE plans charge fee_rate_per_period instead"
            )
        if self.fee_rate_per_period:
            if method in (Method.EQUAL_PAYMENT, Method.EQUAL_PRINCIPAL, Method.PAY_IN_4):
                raise PlanError(
                    f"fee_rate_per_period does not apply to {method.value}; "
                    "use FLAT_FEE (or annual_rate for interest)"
                )
            if method is Method.INTEREST_FREE and self.fee_payer is not FeePayer.MERCHANT:
                raise PlanError(
                    "an INTEREST_FREE plan cannot charge the buyer a fee: set "
                    "fee_payer=MERCHANT or use FLAT_FEE"
                )
        if method is Method.PAY_IN_4:
            if self.periods != 4:
                raise PlanError(f"PAY_IN_4 has exactly 4 periods, got {self.periods}")
            if self.frequency is not Frequency.BIWEEKLY:
                raise PlanError("PAY_IN_4 payments are 14 days apart: use frequency=BIWEEKLY")
        if self.due_day is not None and (
            self.frequency is not Frequency.MONTHLY or method is Method.PAY_IN_4
        ):
            raise PlanError("due_day only applies to MONTHLY plans")

    @property
    def periods_per_year(self) -> int:
        """Payment periods in a year at this plan's frequency."""
        return self.frequency.periods_per_year

    def to_json(self) -> dict[str, Any]:
        """The terms' wire form (rates as decimal strings, never floats)."""
        return {
            "method": self.method.value,
            "periods": self.periods,
            "frequency": self.frequency.value,
            "fee_payer": self.fee_payer.value,
            "annual_rate": str(self.annual_rate),
            "fee_rate_per_period": str(self.fee_rate_per_period),
            "merchant_fee_rate": str(self.merchant_fee_rate),
            "due_day": self.due_day,
        }

    @classmethod
    def from_json(cls, data: object) -> PlanTerms:
        """Parse :meth:`to_json` output strictly (bad or unknown keys raise ``PlanError``)."""
        if not isinstance(data, dict):
            raise PlanError("plan terms must be an object")
        known = {
            "method",
            "periods",
            "frequency",
            "fee_payer",
            "annual_rate",
            "fee_rate_per_period",
            "merchant_fee_rate",
            "due_day",
        }
        extra = set(data) - known
        if extra:
            raise PlanError(f"unknown plan terms fields: {', '.join(sorted(map(str, extra)))}")
        for key in ("method", "periods"):
            if key not in data:
                raise PlanError(f"plan terms need {key!r}")
        for key in ("annual_rate", "fee_rate_per_period", "merchant_fee_rate"):
            if key in data and not isinstance(data[key], str):
                raise PlanError(f"{key} must be a decimal string such as '0.006'")
        return cls(**data)
