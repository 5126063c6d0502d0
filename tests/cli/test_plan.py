"""``paylater plan``: table and JSON output, one-line errors with exit code 2."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner

from paylater_sdk.cli import main
from paylater_sdk.installments import Schedule


def run(*args: str) -> tuple[int, str, str]:
    # catch_exceptions=False: an unexpected exception fails the test instead of hiding.
    result = CliRunner().invoke(main, ["plan", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


ISSUE_EXAMPLE = (
    "12000",
    "--periods",
    "12",
    "--method",
    "flat-fee",
    "--fee-rate",
    "0.006",
    "--start",
    "2026-01-31",
)


def test_table_with_totals_apr_and_effective_rate() -> None:
    code, out, err = run(*ISSUE_EXAMPLE)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "#",
        "due",
        "date",
        "principal",
        "interest",
        "fee",
        "amount",
        "remaining",
    ]
    assert lines[1].split() == [
        "1",
        "2026-02-28",
        "1,000.00",
        "0.00",
        "72.00",
        "1,072.00",
        "11,000.00",
    ]
    assert lines[12].split()[:2] == ["12", "2027-01-31"]
    assert "Total amount:   12,864.00 CNY" in out
    assert "Total fees:     864.00 CNY" in out
    assert "APR (Reg Z actuarial):  13.03 %" in out
    assert "Effective annual rate:  13.84 %" in out
    assert err == ""


def test_json_output_is_the_schedule_wire_form() -> None:
    code, out, _ = run(*ISSUE_EXAMPLE, "--json")
    assert code == 0
    data = json.loads(out)
    schedule = Schedule.from_json(data)
    assert schedule.principal.minor == 1_200_000
    assert data["apr"] == "0.1303"
    assert data["installments"][0]["due_date"] == "2026-02-28"
    assert len(data["installments"]) == 12


def test_all_options() -> None:
    code, out, err = run(
        "99.90",
        "--periods",
        "3",
        "--method",
        "INTEREST-FREE",
        "--currency",
        "usd",
        "--fee-rate",
        "0.01",
        "--fee-payer",
        "merchant",
        "--merchant-fee-rate",
        "0.02",
        "--due-day",
        "5",
        "--start",
        "2026-01-20",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["principal"] == {"value": 9990, "currency": "USD"}
    assert [i["due_date"] for i in data["installments"]] == [
        "2026-02-05",
        "2026-03-05",
        "2026-04-05",
    ]
    assert data["merchant_fee"] == {"value": 500, "currency": "USD"}  # 3 * 1.00 + 2.00
    assert data["apr"] == "0.0000"


def test_equal_payment_with_annual_rate_and_biweekly_frequency() -> None:
    code, out, _ = run(
        "1000",
        "--periods",
        "4",
        "--annual-rate",
        "0.26",
        "--frequency",
        "biweekly",
        "--start",
        "2026-01-01",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["terms"]["method"] == "EQUAL_PAYMENT"
    assert data["installments"][0]["interest"]["value"] == 1000
    assert data["installments"][0]["due_date"] == "2026-01-15"


def test_pay_in_4_needs_no_period_count_and_defaults_to_today() -> None:
    code, out, _ = run("100", "--method", "pay-in-4", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["installments"][0]["due_date"] == date.today().isoformat()
    assert [i["amount"]["value"] for i in data["installments"]] == [2500] * 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("12000", "--periods", "99"), "periods must be between 1 and 60"),
        (("12000",), "--periods is required"),
        (("12000", "--periods", "3", "--method", "balloon"), "Invalid value for '--method'"),
        (("12000", "--periods", "x"), "Invalid value for '--periods'"),
        (("12.001", "--periods", "3"), "at most 2 decimals for CNY"),
        (("abc", "--periods", "3"), "not a decimal number"),
        (("--periods", "3", "--", "-5"), "AMOUNT must be positive, got -5"),
        (("0", "--periods", "3"), "AMOUNT must be positive, got 0"),
        (("-100", "--periods", "3"), "AMOUNT must be positive, got -100"),
        (("--periods", "3", "-0.5"), "AMOUNT must be positive, got -0.5"),
        (("100", "--periods", "3", "--currency", "XXX"), "unknown currency"),
        (("100", "--periods", "3", "--start", "2026-13-01"), "use YYYY-MM-DD"),
        (("100", "--periods", "3", "--annual-rate", "-0.1"), "must not be negative"),
        (("100", "--periods", "3", "--annual-rate", "13"), "rates are fractions"),
        (("100", "--periods", "3", "--annual-rate", "12"), "--annual-rate 12 is above 1"),
        (("100", "--periods", "3", "--annual-rate", "4.35"), "0.0435 is 4.35 %"),
        (("100", "--periods", "3", "--method", "flat-fee", "--fee-rate", "0.6"), "above 0.1"),
        (("100", "--periods", "3", "--annual-rate", "x%"), "not a rate"),
        (("100", "--periods", "3", "--method", "flat-fee", "--fee-rate", "x"), "not a decimal"),
        (("100", "--periods", "3", "--due-day", "40"), "--due-day must be a day of month"),
        (("100", "--periods", "3", "--frequency", "daily"), "Invalid value for '--frequency'"),
        (("100", "--periods", "3", "--bogus"), "No such option"),
        ((), "Missing argument"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("Error: ")
    assert message in err


def test_a_percentage_rate_is_the_exact_fraction() -> None:
    code, out, err = run("1000", "--periods", "12", "--annual-rate", "4.35%", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["terms"]["annual_rate"] == "0.0435"
    as_fraction = json.loads(run("1000", "--periods", "12", "--annual-rate", "0.0435", "--json")[1])
    assert data == as_fraction
    code, out, _ = run("1000", "--periods", "3", "--method", "flat-fee", "--fee-rate", "0.6 %")
    assert code == 0
    assert "Total fees:     18.00 CNY" in out  # 3 x 0.6 % of 1000


def test_the_negative_amount_check_leaves_option_values_alone() -> None:
    # "-0.1" is the value of --annual-rate, not the amount: the rate check answers.
    code, _, err = run("--annual-rate", "-0.1", "100", "--periods", "3")
    assert code == 2
    assert "must not be negative" in err


# Bad input of every kind: each must give exactly one "Error: ..." line, exit status 2 and
# never a traceback (run() lets any unexpected exception fail the test).
BAD_INPUTS = [
    ("-100", "--periods", "3"),
    ("-1e5", "--periods", "3"),
    ("1e999999", "--periods", "3"),
    ("1e-999999999", "--periods", "3"),
    ("nan", "--periods", "3"),
    ("Infinity", "--periods", "3"),
    ("", "--periods", "3"),
    ("12,000", "--periods", "3"),
    ("100", "--periods", "0"),
    ("100", "--periods", "-3"),
    ("100", "--periods", "99999999999999999999999"),
    ("100", "--periods", "3", "--currency", ""),
    ("100", "--periods", "3", "--currency", "cny1"),
    ("100", "--periods", "3", "--start", "9999-12-31"),
    ("100", "--periods", "60", "--start", "9995-06-01"),
    ("100", "--method", "pay-in-4", "--start", "9999-12-25"),
    ("100", "--periods", "3", "--start", "yesterday"),
    ("100", "--periods", "3", "--annual-rate", "1e999999"),
    ("100", "--periods", "3", "--annual-rate", "1e-999999999"),
    ("100", "--periods", "3", "--annual-rate", "nan"),
    ("100", "--periods", "3", "--annual-rate", "inf%"),
    ("100", "--periods", "3", "--annual-rate", "%"),
    ("100", "--periods", "3", "--annual-rate", "0.5", "--method", "flat-fee"),
    ("100", "--periods", "3", "--method", "flat-fee", "--fee-rate", "-1%"),
    ("100", "--periods", "3", "--merchant-fee-rate", "1"),
    ("100", "--periods", "3", "--due-day", "0"),
    ("100", "--periods", "3", "--due-day", "x"),
    ("100", "--periods", "3", "--frequency", "biweekly", "--due-day", "5"),
    ("100", "--periods", "5", "--method", "pay-in-4"),
    ("0.01", "--periods", "12", "--annual-rate", "0.3"),
    ("0.05", "--periods", "12", "--method", "equal-principal"),
    ("100", "--periods", "3", "--fee-payer", "nobody"),
    ("100", "100", "--periods", "3"),
    ("--json",),
]


@pytest.mark.parametrize("args", BAD_INPUTS, ids=" ".join)
def test_no_bad_input_shows_a_traceback(args: tuple[str, ...]) -> None:
    code, out, err = run(*args)
    assert "Traceback" not in out + err
    assert code == 2, (out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("Error: ")
