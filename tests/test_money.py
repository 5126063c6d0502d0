"""Money: exact amounts, strict parsing, explicit rounding, exact allocation."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paylater_sdk.errors import CurrencyMismatchError, MoneyError, PayLaterError
from paylater_sdk.money import Money, currency_exponent


def cny(value: str) -> Money:
    return Money(value, "CNY")


class TestConstruction:
    def test_string_int_and_decimal_give_the_same_canonical_amount(self) -> None:
        assert Money("12.3", "CNY") == Money(Decimal("12.30"), "CNY")
        assert repr(Money(12, "cny")) == "Money('12.00', 'CNY')"
        assert str(Money(" 7.5 ", "USD")) == "7.50 USD"

    @pytest.mark.parametrize("bad", [1.5, 0.1, float("nan"), True, False])
    def test_float_and_bool_are_type_errors(self, bad: object) -> None:
        with pytest.raises(TypeError, match="str, int or Decimal"):
            Money(bad, "CNY")  # type: ignore[arg-type]

    @pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Inf", "sNaN"])
    def test_non_finite_amounts_are_money_errors(self, bad: str) -> None:
        with pytest.raises(MoneyError, match="finite"):
            Money(bad, "CNY")

    def test_excess_decimals_are_refused_in_words_a_user_understands(self) -> None:
        with pytest.raises(
            MoneyError, match=r"^0\.001 has too many decimals: at most 2 decimals for CNY"
        ):
            Money("0.001", "CNY")
        with pytest.raises(MoneyError, match="at most 3 decimals for KWD"):
            Money("1.0001", "KWD")
        with pytest.raises(MoneyError, match="JPY has no decimals"):
            Money("1.5", "JPY")
        with pytest.raises(MoneyError, match=r"Money\.rounded"):
            Money("0.001", "CNY")

    def test_absurd_exponents_are_refused_at_once(self) -> None:
        with pytest.raises(MoneyError, match="too many decimals"):
            Money("1e-999999999", "CNY")
        with pytest.raises(MoneyError, match="too large"):
            Money("1e999999", "CNY")

    def test_money_error_is_a_value_error_and_a_paylater_error(self) -> None:
        with pytest.raises(ValueError, match="decimal number"):
            Money("12,00", "CNY")
        assert issubclass(MoneyError, PayLaterError)

    def test_unknown_currency(self) -> None:
        with pytest.raises(MoneyError, match="unknown currency 'XXX'"):
            Money("1", "XXX")
        with pytest.raises(MoneyError, match="unknown currency"):
            currency_exponent("BTC")
        with pytest.raises(TypeError, match="currency"):
            Money("1", 156)  # type: ignore[arg-type]

    def test_exponents(self) -> None:
        assert (currency_exponent("JPY"), currency_exponent("CNY"), currency_exponent("KWD")) == (
            0,
            2,
            3,
        )
        assert Money("1500", "JPY").minor == 1500
        assert Money.from_minor(1500, "JPY") == Money("1500", "JPY")
        assert Money.from_minor(1234, "KWD").amount == Decimal("1.234")

    def test_from_minor_and_minor_round_trip(self) -> None:
        assert Money.from_minor(12345, "CNY") == cny("123.45")
        assert cny("-0.05").minor == -5
        with pytest.raises(TypeError, match="minor units must be an int"):
            Money.from_minor(1.0, "CNY")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Money.from_minor(True, "CNY")

    def test_negative_zero_is_plain_zero(self) -> None:
        assert str(Money("-0.00", "CNY")) == "0.00 CNY"
        assert Money.zero("CNY") == cny("0")
        assert not Money.zero("CNY")

    def test_trusted_fast_path_matches_the_checked_constructor(self) -> None:
        for minor, currency in [(0, "CNY"), (12000, "CNY"), (-5, "CNY"), (7, "JPY"), (1, "KWD")]:
            fast = Money._of_minor(minor, currency)
            checked = Money.from_minor(minor, currency)
            assert fast == checked
            assert repr(fast) == repr(checked)
            assert hash(fast) == hash(checked)


class TestArithmetic:
    def test_add_sub_neg_abs(self) -> None:
        assert cny("12.30") + Money.from_minor(70, "CNY") == cny("13.00")
        assert cny("1") - cny("2.50") == cny("-1.50")
        assert -cny("1.25") == cny("-1.25")
        assert abs(cny("-3")) == cny("3")
        assert sum([cny("1.10"), cny("2.20"), cny("3.30")]) == cny("6.60")

    def test_integer_multiplication_only(self) -> None:
        assert cny("1.11") * 3 == cny("3.33")
        assert 3 * cny("1.11") == cny("3.33")
        with pytest.raises(TypeError, match="non-integer"):
            cny("1") * Decimal("1.5")  # type: ignore[operator]
        with pytest.raises(TypeError, match="non-integer"):
            cny("1") * 1.5  # type: ignore[operator]
        with pytest.raises(TypeError, match="non-integer"):
            cny("1") * Fraction(1, 2)  # type: ignore[operator]

    def test_currency_mismatch(self) -> None:
        with pytest.raises(CurrencyMismatchError, match="CNY with USD"):
            cny("1") + Money("1", "USD")
        with pytest.raises(CurrencyMismatchError):
            _ = cny("1") < Money("1", "USD")
        with pytest.raises(TypeError, match="cannot combine Money with int"):
            _ = cny("1") < 2  # type: ignore[operator]
        assert issubclass(CurrencyMismatchError, MoneyError)

    def test_comparisons(self) -> None:
        assert cny("1") < cny("1.01") <= cny("1.01") < cny("2")
        assert cny("3") > cny("2") >= cny("2")
        assert cny("1") != Money("1", "USD")

    @pytest.mark.parametrize(
        ("mode", "expected"),
        [(ROUND_HALF_UP, "0.13"), (ROUND_HALF_EVEN, "0.12"), (ROUND_DOWN, "0.12")],
    )
    def test_rounding_modes_are_explicit(self, mode: str, expected: str) -> None:
        assert Money.rounded("0.125", "CNY", rounding=mode) == cny(expected)
        assert cny("0.25").multiply("0.5", rounding=mode) == cny(expected)
        assert cny("0.25").divide(2, rounding=mode) == cny(expected)

    def test_divide_by_zero(self) -> None:
        with pytest.raises(MoneyError, match="divide money by zero"):
            cny("1").divide(0, rounding=ROUND_HALF_UP)

    def test_multiply_refuses_float_rates(self) -> None:
        with pytest.raises(TypeError):
            cny("1").multiply(0.1, rounding=ROUND_HALF_UP)  # type: ignore[arg-type]


class TestAllocate:
    def test_equal_parts_sum_exactly(self) -> None:
        parts = cny("100").allocate(3)
        assert parts == [cny("33.34"), cny("33.33"), cny("33.33")]
        assert sum(parts) == cny("100")

    def test_ratios(self) -> None:
        assert cny("10").allocate([1, 2, 2]) == [cny("2"), cny("4"), cny("4")]
        assert cny("0.05").allocate([1, 1]) == [cny("0.03"), cny("0.02")]
        assert cny("-0.05").allocate([1, 1]) == [cny("-0.03"), cny("-0.02")]
        assert cny("1").allocate([0, 1]) == [cny("0"), cny("1")]

    @pytest.mark.parametrize("bad", [0, -1, [], [-1, 2], [0, 0]])
    def test_bad_parts(self, bad: object) -> None:
        with pytest.raises(MoneyError):
            cny("1").allocate(bad)  # type: ignore[arg-type]

    def test_bad_part_type(self) -> None:
        with pytest.raises(TypeError):
            cny("1").allocate("3")  # type: ignore[arg-type]

    @given(
        st.integers(-(10**12), 10**12),
        st.lists(st.integers(0, 10**6), min_size=1, max_size=20).filter(any),
    )
    def test_allocation_always_sums_and_stays_near_the_ratio(
        self, minor: int, ratios: list[int]
    ) -> None:
        total = Money.from_minor(minor, "CNY")
        parts = total.allocate(ratios)
        assert sum(p.minor for p in parts) == minor
        for part, ratio in zip(parts, ratios, strict=True):
            exact = Fraction(minor * ratio, sum(ratios))
            assert abs(part.minor - exact) < 1


class TestJson:
    def test_round_trip(self) -> None:
        money = cny("120.00")
        assert money.to_json() == {"value": 12000, "currency": "CNY"}
        assert Money.from_json(money.to_json()) == money
        assert Money.from_json({"value": 5, "currency": "JPY"}) == Money("5", "JPY")

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ([12000, "CNY"], "an object"),
            ({"value": 12000}, "currency"),
            ({"currency": "CNY"}, "integer"),
            ({"value": 120.0, "currency": "CNY"}, "integer"),
            ({"value": "12000", "currency": "CNY"}, "integer"),
            ({"value": True, "currency": "CNY"}, "integer"),
            ({"value": 1, "currency": "CNY", "extra": 1}, "unknown amount fields: extra"),
            ({"value": 1, "currency": "ZZZ"}, "unknown currency"),
            ({"value": 1, "currency": 156}, "ISO 4217"),
        ],
    )
    def test_strictness(self, data: object, message: str) -> None:
        with pytest.raises(MoneyError, match=message):
            Money.from_json(data)

    @given(st.integers(-(10**15), 10**15), st.sampled_from(["CNY", "JPY", "KWD", "USD"]))
    def test_round_trip_is_exact(self, minor: int, currency: str) -> None:
        money = Money.from_minor(minor, currency)
        assert Money.from_json(money.to_json()) == money
        assert money.minor == minor


def test_minor_unit_conversions_ignore_a_low_caller_precision() -> None:
    from decimal import localcontext

    big = Money.from_minor(123_456_789_012, "CNY")
    with localcontext() as ctx:
        ctx.prec = 4
        assert big.minor == 123_456_789_012
        assert Money._of_minor(123_456_789_012, "CNY") == big


class TestCallersDecimalContext:
    """The module docstring's promise: the caller's decimal context changes nothing."""

    def test_a_six_digit_context_neither_refuses_nor_rounds_an_amount(self) -> None:
        with localcontext() as ctx:
            ctx.prec = 6
            money = Money("12345.67", "CNY")
            assert money.minor == 1_234_567
            total = money + Money("99999.99", "CNY")
            assert total.minor == 11_234_566
            assert (money - Money("0.01", "CNY")).minor == 1_234_566
            assert (-money).minor == -1_234_567
            assert abs(-money) == money
            assert (money * 7).minor == 8_641_969
            assert Money.from_minor(123_456_789, "CNY").amount == Decimal("1234567.89")
            assert Money.rounded("12345.675", "CNY", rounding=ROUND_HALF_UP).minor == 1_234_568
        assert str(money) == "12345.67 CNY"

    def test_multiply_rounds_once_under_a_two_digit_context(self) -> None:
        # Exact product 124.06725; a 2-digit context would first make it 1.2E+2.
        exact = Fraction(12345, 100) * Fraction(1005, 1000)
        with localcontext() as ctx:
            ctx.prec = 2
            product = Money("123.45", "CNY").multiply("1.005", rounding=ROUND_HALF_UP)
            quotient = Money("100", "CNY").divide(3, rounding=ROUND_HALF_UP)
        assert product.minor == round(exact * 100) == 12407
        assert quotient.minor == 3333

    def test_a_different_default_rounding_does_not_leak_in(self) -> None:
        with localcontext() as ctx:
            ctx.rounding = ROUND_DOWN
            assert Money("0.25", "CNY").multiply("0.5", rounding=ROUND_HALF_UP).minor == 13
            assert Money("2", "CNY").divide(3, rounding=ROUND_HALF_UP).minor == 67

    @given(
        st.integers(-(10**14), 10**14),
        st.decimals(Decimal("-1000"), Decimal("1000"), places=6),
        st.sampled_from([ROUND_HALF_UP, ROUND_HALF_EVEN, ROUND_DOWN]),
    )
    def test_multiply_is_the_correctly_rounded_exact_product(
        self, minor: int, factor: Decimal, mode: str
    ) -> None:
        exact = Fraction(minor) * Fraction(factor)  # in fen
        with localcontext() as ctx:
            ctx.prec = 3
            result = Money.from_minor(minor, "CNY").multiply(factor, rounding=mode)
        floor = exact.numerator // exact.denominator
        assert result.minor in (floor, floor + 1)
        if mode == ROUND_DOWN:
            assert result.minor == int(exact)  # toward zero
        elif exact - floor != Fraction(1, 2):
            assert result.minor == round(exact)
