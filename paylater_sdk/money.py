"""Exact money: an amount in one currency, never a float.

Every value is a whole number of the currency's minor unit (fen for CNY, yen for JPY).
Operations that cannot produce a fraction of a minor unit (adding, subtracting,
multiplying by an integer) are plain operators; every operation that could, takes an
explicit rounding mode, so a rounding decision is always visible at the call site.

Nothing here depends on the caller's :mod:`decimal` context: parsing, arithmetic and
rounding all run in the SDK's own 60-digit context, so ``getcontext().prec = 6`` (or a
different default rounding) in an application can neither refuse nor round an amount.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_05UP, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import attrs

from .errors import CurrencyMismatchError, MoneyError

__all__ = ["CURRENCY_EXPONENTS", "ROUND_HALF_UP", "Money", "currency_exponent"]

#: ISO 4217 minor-unit exponents for the currencies this SDK accepts.
CURRENCY_EXPONENTS: Mapping[str, int] = {
    "AED": 2, "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2,
    "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2,
    "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "MOP": 2, "MXN": 2,
    "MYR": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PLN": 2, "RUB": 2, "SAR": 2,
    "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "USD": 2, "VND": 0,
    "ZAR": 2,
}  # fmt: skip

_QUANTA = {exp: Decimal(1).scaleb(-exp) for exp in set(CURRENCY_EXPONENTS.values())}
# Per-currency constants so the hot paths (minor units <-> Decimal) are one multiplication.
_SCALE = {code: Decimal(10**exp) for code, exp in CURRENCY_EXPONENTS.items()}
_UNIT = {code: _QUANTA[exp] for code, exp in CURRENCY_EXPONENTS.items()}

# Every operation runs in its own wide context: a caller's low decimal precision (or odd
# rounding mode) must never round an amount. 60 digits hold any product of two amounts or
# rates an application meets; beyond that an amount is "too large", never silently rounded.
_EXACT = Context(prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation])
# Products and quotients that must be rounded once more (to the minor unit, in the caller's
# mode) are first rounded "to odd" (ROUND_05UP) at 60 digits: that intermediate never
# creates or hides a tie, so the final rounding is the correctly rounded exact result.
_PREPARE = Context(prec=60, rounding=ROUND_05UP, traps=[InvalidOperation])


def currency_exponent(currency: str) -> int:
    """Return the minor-unit exponent of an ISO 4217 code, or raise :class:`MoneyError`."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except (KeyError, TypeError):
        raise MoneyError(
            f"unknown currency {currency!r}: use an ISO 4217 code such as 'CNY' or 'USD'"
        ) from None


def _too_many_decimals(amount: Decimal, currency: str) -> MoneyError:
    exp = CURRENCY_EXPONENTS[currency]
    limit = f"at most {exp} decimals for {currency}" if exp else f"{currency} has no decimals"
    return MoneyError(
        f"{amount} has too many decimals: {limit} (round it explicitly with "
        "Money.rounded(value, currency, rounding=...))"
    )


def _quantize(value: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``value`` rounded to the minor unit of ``currency`` in the SDK's own context."""
    try:
        return value.quantize(_UNIT[currency], rounding=rounding, context=_EXACT)
    except InvalidOperation:
        raise MoneyError(f"amount {value} is too large") from None


def _normalize_currency(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"currency must be an ISO 4217 code string, not {type(value).__name__}")
    code = value.strip().upper()
    currency_exponent(code)
    return code


def _to_decimal(value: object) -> Decimal:
    # bool is an int subclass; True yuan is always a bug.
    if isinstance(value, bool | float):
        raise TypeError(
            f"amount must be str, int or Decimal, not {type(value).__name__}: "
            "floats cannot represent money exactly; pass a string such as '12.30'"
        )
    if isinstance(value, Decimal):
        dec = value
    elif isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, str):
        try:
            dec = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError(f"amount {value!r} is not a decimal number") from None
    else:
        raise TypeError(f"amount must be str, int or Decimal, not {type(value).__name__}")
    if not dec.is_finite():
        raise MoneyError(f"amount must be finite, got {value!r}")
    return dec


@attrs.frozen(repr=False, eq=True, order=False)
class Money:
    """An exact amount of one currency.

    >>> Money("12.30", "CNY") + Money.from_minor(70, "CNY")
    Money('13.00', 'CNY')
    """

    amount: Decimal = attrs.field(converter=_to_decimal)
    currency: str = attrs.field(converter=_normalize_currency)
    # Whole minor units, derived once: the plan engine reads it on every hot path.
    _minor: int = attrs.field(init=False, default=0, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        try:  # (inlined _quantize: this runs for every amount built)
            exact = self.amount.quantize(_UNIT[self.currency], context=_EXACT)
        except InvalidOperation:
            raise MoneyError(f"amount {self.amount} is too large") from None
        if exact != self.amount:
            raise _too_many_decimals(self.amount, self.currency)
        # Store the canonical form (12.3 -> 12.30) so str() and the wire agree.
        object.__setattr__(self, "amount", exact if exact else exact.copy_abs())
        object.__setattr__(self, "_minor", int(_EXACT.multiply(exact, _SCALE[self.currency])))

    # --- construction -------------------------------------------------------------------

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        """Build from a whole number of minor units (``from_minor(12345, 'CNY')`` is 123.45)."""
        if isinstance(minor, bool) or not isinstance(minor, int):
            raise TypeError(f"minor units must be an int, not {type(minor).__name__}")
        exp = currency_exponent(currency.upper() if isinstance(currency, str) else currency)
        return cls(Decimal(minor).scaleb(-exp, context=_EXACT), currency)

    @classmethod
    def _of_minor(cls, minor: int, currency: str) -> Money:
        """Trusted fast path for the plan engine: ``minor`` is an int, ``currency`` canonical.

        Skips the converters (a schedule builds ~60 amounts; validation would dominate).
        """
        obj = object.__new__(cls)
        object.__setattr__(obj, "amount", _EXACT.multiply(minor, _UNIT[currency]))
        object.__setattr__(obj, "currency", currency)
        object.__setattr__(obj, "_minor", minor)
        return obj

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in ``currency``: the start of a sum (``sum(amounts, Money.zero("CNY"))``)."""
        return cls.from_minor(0, currency)

    @classmethod
    def rounded(cls, value: Decimal | int | str, currency: str, *, rounding: str) -> Money:
        """Round an arbitrary decimal to the currency's minor unit with an explicit mode."""
        code = _normalize_currency(currency)
        return cls(_quantize(_to_decimal(value), code, rounding), code)

    @classmethod
    def from_json(cls, data: object) -> Money:
        """Parse the wire form ``{"value": <int minor units>, "currency": "CNY"}`` strictly."""
        if not isinstance(data, Mapping):
            raise MoneyError("an amount must be an object with 'value' and 'currency'")
        extra = set(data) - {"value", "currency"}
        if extra:
            raise MoneyError(f"unknown amount fields: {', '.join(sorted(map(str, extra)))}")
        value = data.get("value")
        if isinstance(value, bool) or not isinstance(value, int):
            raise MoneyError("amount 'value' must be an integer number of minor units")
        currency = data.get("currency")
        if not isinstance(currency, str):
            raise MoneyError("amount 'currency' must be an ISO 4217 code string")
        return cls.from_minor(value, currency)

    def to_json(self) -> dict[str, Any]:
        """The wire form: integer minor units, so no float ever carries money."""
        return {"value": self.minor, "currency": self.currency}

    # --- views --------------------------------------------------------------------------

    @property
    def exponent(self) -> int:
        """Decimal places of the currency's minor unit (ISO 4217: 2 for CNY, 0 for JPY)."""
        return CURRENCY_EXPONENTS[self.currency]

    @property
    def minor(self) -> int:
        """The amount as a whole number of minor units."""
        return self._minor

    def __repr__(self) -> str:
        return f"Money({str(self.amount)!r}, {self.currency!r})"

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec) if spec else str(self)

    def __bool__(self) -> bool:
        return bool(self.amount)

    # --- arithmetic ---------------------------------------------------------------------

    def _check(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(
                f"cannot combine {self.currency} with {other.currency}: convert explicitly first"
            )
        return other

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(_EXACT.add(self.amount, self._check(other).amount), self.currency)

    def __radd__(self, other: object) -> Money:
        # Lets sum(moneys) work: sum() starts from the integer 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(_EXACT.subtract(self.amount, self._check(other).amount), self.currency)

    def __neg__(self) -> Money:
        return Money(self.amount.copy_negate(), self.currency)

    def __abs__(self) -> Money:
        return Money(self.amount.copy_abs(), self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            if isinstance(factor, Decimal | Fraction | float):
                raise TypeError(
                    "multiplying by a non-integer can leave a fraction of a minor unit: "
                    "use money.multiply(factor, rounding=ROUND_HALF_UP)"
                )
            return NotImplemented
        return Money(_EXACT.multiply(self.amount, factor), self.currency)

    __rmul__ = __mul__

    def multiply(self, factor: Decimal | int | str, *, rounding: str) -> Money:
        """Multiply by a rate or ratio and round to the minor unit with ``rounding``."""
        product = _PREPARE.multiply(self.amount, _to_decimal(factor))
        return Money(_quantize(product, self.currency, rounding), self.currency)

    def divide(self, divisor: Decimal | int | str, *, rounding: str) -> Money:
        """Divide and round to the minor unit (use :meth:`allocate` to split exactly)."""
        dec = _to_decimal(divisor)
        if not dec:
            raise MoneyError("cannot divide money by zero")
        quotient = _PREPARE.divide(self.amount, dec)
        return Money(_quantize(quotient, self.currency, rounding), self.currency)

    def allocate(self, parts: int | Sequence[int | Decimal | str]) -> list[Money]:
        """Split exactly: the parts always sum to ``self``.

        ``allocate(3)`` splits into equal parts; ``allocate([1, 2])`` by ratios. Leftover
        minor units go one each to the parts with the largest remainders (ties: earliest),
        so the result never depends on float rounding.
        """
        ratios: list[Decimal]
        if isinstance(parts, int) and not isinstance(parts, bool):
            if parts < 1:
                raise MoneyError(f"cannot allocate into {parts} parts; use 1 or more")
            ratios = [Decimal(1)] * parts
        elif isinstance(parts, Iterable) and not isinstance(parts, str | bytes):
            ratios = [_to_decimal(r) for r in parts]
            if not ratios:
                raise MoneyError("allocate needs at least one ratio")
            if any(r < 0 for r in ratios):
                raise MoneyError("allocation ratios must not be negative")
            if not any(ratios):
                raise MoneyError("allocation ratios must not all be zero")
        else:
            raise TypeError("allocate takes a part count (int) or a sequence of ratios")
        total = self.minor
        sign = -1 if total < 0 else 1
        whole = abs(total)
        ratio_sum = sum(ratios)
        shares = [Fraction(whole) * Fraction(r) / Fraction(ratio_sum) for r in ratios]
        floors = [int(s) for s in shares]
        leftover = whole - sum(floors)
        order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - floors[i]), i))
        for i in order[:leftover]:
            floors[i] += 1
        return [Money.from_minor(sign * m, self.currency) for m in floors]

    # --- comparisons (same currency only) -----------------------------------------------

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._check(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._check(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._check(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._check(other).amount
