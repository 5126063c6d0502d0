"""Installment-plan benchmarks: schedule + APR build time, and APR against numpy-financial.

Run: ``python benchmarks/bench_plans.py`` (prints a side-by-side table; no assertions).

Floors from the issue: a 12-period schedule with its APR in <= 150 us (median), and
``actuarial_apr`` no slower than ``numpy_financial.irr`` on the same 12 cash flows
(ratio <= 1.0) with results agreeing to 1e-9. Each timing is the median of many rounds.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import numpy_financial as npf

from paylater_sdk.installments import Method, PlanTerms, actuarial_apr, build_schedule
from paylater_sdk.installments import _amortization as amortization
from paylater_sdk.installments import _apr as apr_module
from paylater_sdk.installments import _unit_periods as unit_periods
from paylater_sdk.money import Money

ROUNDS = 61
PER_ROUND = 100


def measure(
    func: Callable[[], object], *, before: Callable[[], None] | None = None
) -> tuple[float, float]:
    """(fastest, median) over ROUNDS batches of the mean thread-CPU time per call, in us.

    Thread CPU time, garbage collector off (as ``timeit``): time spent descheduled on a
    busy shared machine does not count. ``before`` runs untimed before each call.
    """
    samples = []
    gc.disable()
    try:
        for _ in range(ROUNDS):
            total = 0
            for _ in range(PER_ROUND):
                if before is not None:
                    before()
                start = time.thread_time_ns()
                func()
                total += time.thread_time_ns() - start
            samples.append(total / PER_ROUND / 1000)
    finally:
        gc.enable()
    return min(samples), statistics.median(samples)


def compare(
    baseline: Callable[[], object], ours: Callable[[], object], before: Callable[[], None] | None
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Alternate batches of both sides so they share the machine's noise.

    Returns (baseline fastest/median, ours fastest/median, median of per-round ratios).
    """
    base, mine, ratios = [], [], []
    gc.disable()
    try:
        for _ in range(ROUNDS):
            pair = []
            for func, hook in ((baseline, None), (ours, before)):
                total = 0
                for _ in range(PER_ROUND):
                    if hook is not None:
                        hook()
                    start = time.thread_time_ns()
                    func()
                    total += time.thread_time_ns() - start
                pair.append(total / PER_ROUND / 1000)
            base.append(pair[0])
            mine.append(pair[1])
            ratios.append(pair[1] / pair[0])
    finally:
        gc.enable()
    return (
        (min(base), statistics.median(base)),
        (min(mine), statistics.median(mine)),
        statistics.median(ratios),
    )


def clear_caches() -> None:
    # A "cold" build: no cached due dates, unit-period positions, interval classes or
    # shared Money values.
    amortization._due_dates.cache_clear()
    amortization._anchored.cache_clear()
    amortization._money.cache_clear()
    unit_periods.position.cache_clear()
    unit_periods.positions.cache_clear()
    unit_periods._classify.cache_clear()


def main() -> int:
    principal = Money("12000", "CNY")
    terms = PlanTerms(12, Method.FLAT_FEE, fee_rate_per_period="0.006")
    start = date(2026, 1, 31)
    annuity = PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.0435")

    def build_flat() -> Decimal:
        return build_schedule(principal, terms, start=start).apr

    def build_annuity() -> Decimal:
        return build_schedule(Money("100000", "CNY"), annuity, start=start).apr

    days = iter(range(10**9))

    def build_new_day() -> Decimal:
        # A different purchase date every call: nothing is reused from a cache.
        day = start + timedelta(days=next(days) % 20000)
        return build_schedule(principal, terms, start=day).apr

    schedule = build_schedule(principal, terms, start=start)
    advances = [(start, principal)]
    payments = [(i.due_date, i.amount) for i in schedule.installments]
    flows = [-float(principal.amount)] + [float(i.amount.amount) for i in schedule.installments]

    rows = [
        ("12-period FLAT_FEE schedule + APR (same day, warm)", measure(build_flat)),
        (
            "12-period FLAT_FEE schedule + APR (cold caches)",
            measure(build_flat, before=clear_caches),
        ),
        ("12-period FLAT_FEE schedule + APR (new day each)", measure(build_new_day)),
        ("12-period EQUAL_PAYMENT schedule + APR (warm)", measure(build_annuity)),
    ]

    def irr() -> object:
        return npf.irr(flows)

    aprs = [
        (
            "actuarial_apr (unit-period detected, warm)",
            lambda: actuarial_apr(advances, payments),
            None,
        ),
        (
            "actuarial_apr (unit-period detected, cold caches)",
            lambda: actuarial_apr(advances, payments),
            clear_caches,
        ),
        (
            "actuarial_apr (unit_period=MONTH)",
            lambda: actuarial_apr(advances, payments, unit_period=apr_module.UnitPeriod.MONTH),
            None,
        ),
    ]
    compared = [(label, *compare(irr, func, hook)) for label, func, hook in aprs]

    ours = actuarial_apr(advances, payments)
    theirs = Decimal(repr(float(npf.irr(flows)))) * 12
    print(f"python {sys.version.split()[0]}, {ROUNDS} batches x {PER_ROUND} calls, thread CPU time")
    print()
    print(f"{'schedule build (includes the APR)':52} {'fastest':>9} {'median':>9}   floor")
    for label, (fast, mid) in rows:
        print(f"{label:52} {fast:6.1f} us {mid:6.1f} us   <= 150 us")
    print()
    print("APR of the same 12 monthly cash flows, alternating batches with numpy_financial.irr")
    print(f"{'':52} {'fastest':>9} {'median':>9}   ratio to irr: fastest, median of rounds")
    for label, base, mine, ratio in compared:
        print(f"{'  numpy_financial.irr (x12)':52} {base[0]:6.1f} us {base[1]:6.1f} us")
        times = f"{mine[0]:6.1f} us {mine[1]:6.1f} us"
        print(f"{'  ' + label:52} {times}   {mine[0] / base[0]:.2f}, {ratio:.2f}")
    print()
    print(f"actuarial_apr      = {ours}")
    print(f"12 * npf.irr       = {theirs}")
    print(f"|difference|       = {abs(ours - theirs):.2e}  (floor: <= 1e-9)")
    print(f"check: 100000 CNY at 4.35 % / 12: level payment {monthly_payment()}")
    return 0


def monthly_payment() -> Money:
    terms = PlanTerms(12, Method.EQUAL_PAYMENT, annual_rate="0.0435")
    schedule = build_schedule(Money("100000", "CNY"), terms, start=date(2026, 1, 15))
    return schedule.installments[0].amount


if __name__ == "__main__":
    raise SystemExit(main())
