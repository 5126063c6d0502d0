"""Request validation alone: the contract models against the hand-written validators they
replaced (kept as the test oracle in tests/issuer/web/_legacy_wire.py).

Times validating a parsed create-checkout body (the fast path: a good body), a refund
body, and a refused checkout body (the slow path that words the refusal), median of
repeated batches. Run from the repository root:
``.venv/bin/python benchmarks/bench_validation.py`` (``BENCH_N`` batches, default 200).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paylater_sdk.errors import InvalidRequestError
from paylater_sdk.issuer.web.contract import bodies, validate
from tests.issuer.web import _legacy_wire as legacy

N = int(os.environ.get("BENCH_N", "200"))
BATCH = 200

CHECKOUT: dict[str, Any] = {
    "out_trade_no": "B1001",
    "amount": {"value": 12000, "currency": "CNY"},
    "description": "bench",
    "notify_url": "https://shop.example/n",
    "return_url": "https://shop.example/r",
    "plans": ["fenfu-3", "fenfu-6"],
    "expires_in": 1800,
}
REFUND: dict[str, Any] = {
    "order_id": "ord_0123456789abcdef",
    "amount": {"value": 1000, "currency": "CNY"},
    "out_refund_no": "R1",
    "reason": "returned",
}
REFUSED: dict[str, Any] = {**CHECKOUT, "expires_in": 10}


def _median_us(action: Callable[[], object]) -> float:
    samples = []
    for _ in range(N):
        start = time.perf_counter()
        for _ in range(BATCH):
            action()
        samples.append((time.perf_counter() - start) / BATCH)
    return statistics.median(samples) * 1e6


def _refused(check: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        try:
            return check()
        except InvalidRequestError as exc:
            return exc

    return run


def validation_us() -> tuple[float, float]:
    """Median microseconds to validate the create-checkout body: hand-written, models."""
    return (
        _median_us(lambda: legacy.validate("checkout", CHECKOUT)),
        _median_us(lambda: validate(bodies.CreateCheckout, CHECKOUT)),
    )


def main() -> None:
    cases = {
        "create-checkout body": (
            lambda: legacy.validate("checkout", CHECKOUT),
            lambda: validate(bodies.CreateCheckout, CHECKOUT),
        ),
        "refund body": (
            lambda: legacy.validate("refund", REFUND),
            lambda: validate(bodies.CreateRefund, REFUND),
        ),
        "refused checkout body": (
            _refused(lambda: legacy.validate("checkout", REFUSED)),
            _refused(lambda: validate(bodies.CreateCheckout, REFUSED)),
        ),
    }
    for name, (old, new) in cases.items():
        old_us, new_us = _median_us(old), _median_us(new)
        print(
            f"{name:24s} hand-written {old_us:6.2f} us   models {new_us:6.2f} us"
            f"   ({old_us / new_us:4.2f}x)"
        )


if __name__ == "__main__":
    main()
