"""Mock issuer throughput, in process (Flask test client, SQLite file in WAL mode).

Prints the median latency of a signed ``POST /v1/checkouts`` (verify, validate, insert,
sign the answer), of a whole lifecycle (create, authorize with the conditional hold,
capture with its schedule), of a bare ledger hold, and of validating the create-checkout
body alone, with the contract models and with the hand-written validators they replaced
(a few microseconds of the request: see bench_validation.py for more bodies). Run:
``.venv/bin/python benchmarks/bench_issuer.py`` (``BENCH_N`` samples, default 300).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench_validation import validation_us  # the script's folder is on sys.path

from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.issuer.domain import ledger
from paylater_sdk.money import Money
from paylater_sdk.signing import RequestSigner, generate_private_key, public_key_pem, serial_for

N = int(__import__("os").environ.get("BENCH_N", "300"))


def _median_us(action: Callable[[int], object], n: int = N) -> float:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        action(i)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def main() -> None:
    key = generate_private_key("ed25519")
    folder = Path(tempfile.mkdtemp(prefix="bench-issuer-"))
    app = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": f"sqlite:///{folder / 'issuer.db'}",
            "MERCHANTS": [
                {
                    "id": "m_bench",
                    "name": "Bench",
                    "public_keys": [public_key_pem(key).decode()],
                    "api_key": "0123456789abcdef0123456789abcdef",
                    "notify_prefixes": ["https://shop.example/"],
                    "return_prefixes": ["https://shop.example/"],
                }
            ],
            "NOTIFY_TRANSPORT": lambda url, headers, body, timeout: 200,
        }
    )
    issuer = get_issuer(app)
    client = app.test_client()
    signer = RequestSigner("m_bench", key, serial_for(key))
    buyer = issuer.create_buyer(limit=Money("100000000.00", "CNY"))

    def post(path: str, body: dict[str, object]) -> dict[str, object]:
        raw = json.dumps(body).encode()
        headers = {
            "Authorization": signer.authorization("POST", path, raw),
            "Content-Type": "application/json",
        }
        response = client.post(path, data=raw, headers=headers)
        assert response.status_code in (200, 201), response.get_json()
        result: dict[str, object] = response.get_json()
        return result

    def checkout(i: int, prefix: str = "B") -> dict[str, object]:
        return post(
            "/v1/checkouts",
            {
                "out_trade_no": f"{prefix}{i}",
                "amount": {"value": 12000, "currency": "CNY"},
                "description": "bench",
                "notify_url": "https://shop.example/n",
                "return_url": "https://shop.example/r",
            },
        )

    def lifecycle(i: int) -> None:
        created = checkout(i, "L")
        done = issuer.orders.authorize(str(created["id"]), buyer_id=buyer.id, plan_id="fenfu-6")
        post(f"/v1/orders/{done['order']['id']}/capture", {})

    now = datetime.now(UTC)

    def hold(i: int) -> None:
        with issuer.engine.begin() as conn:
            ledger.hold(
                conn, buyer_id=buyer.id, amount=1, currency="CNY", reference=f"h{i}", now=now
            )

    create_us = _median_us(checkout)
    lifecycle_us = _median_us(lifecycle, 100)
    hold_us = _median_us(hold)
    print(f"signed POST /v1/checkouts          median {create_us:8.0f} us")
    print(f"create + authorize + capture       median {lifecycle_us:8.0f} us")
    print(f"ledger hold (conditional UPDATE)  median {hold_us:8.0f} us")
    old_us, new_us = validation_us()
    print(f"validate the checkout body        median {new_us:8.2f} us (hand-written {old_us:.2f})")
    issuer.engine.dispose()


if __name__ == "__main__":
    main()
