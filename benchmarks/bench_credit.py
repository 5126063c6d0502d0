"""Credit decision benchmark: one scorecard decision, and one application end to end.

Run: ``python benchmarks/bench_credit.py`` (prints the figures; no assertions).

The issue asks that a decision take "well under 50 ms". Printed: the median of the pure
decision (points, grade, caps) and of ``issuer.lending.apply`` on SQLite (the decision
plus its transaction: lookup by keyed hash, the buyer row, the ledger entry and the
decision record), each over many runs.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.issuer.domain.scorecard import Application, ScorecardModel, derived_profile
from paylater_sdk.lifecycle import Employment
from paylater_sdk.money import Money


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    model = ScorecardModel()
    income, debts = Money(Decimal(8000), "CNY"), Money(Decimal(1500), "CNY")
    decisions = []
    for n in range(5000):
        application = Application(
            income, debts, Employment.SALARIED, True, derived_profile(f"138{n:08d}")
        )
        start = time.perf_counter()
        model.decide(application)
        decisions.append(time.perf_counter() - start)
    folder = Path(tempfile.mkdtemp(prefix="bench-credit-"))
    issuer = get_issuer(
        create_app({"TEST_MODE": True, "DATABASE_URL": f"sqlite:///{folder / 'i.db'}"})
    )
    applications = []
    for n in range(300):
        start = time.perf_counter()
        issuer.lending.apply(
            phone=f"137{n:08d}",
            monthly_income=income,
            monthly_debt_payments=debts,
            employment=Employment.SALARIED,
            consent=True,
        )
        applications.append(time.perf_counter() - start)
    issuer.engine.dispose()
    print(f"scorecard decision       median {_median_ms(decisions):8.4f} ms  (5000 runs)")
    print(f"application (SQLite)     median {_median_ms(applications):8.4f} ms  (300 runs)")
    print(f"application (SQLite)     max    {max(applications) * 1000:8.4f} ms")


if __name__ == "__main__":
    main()
