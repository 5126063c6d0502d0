"""Bills over real sockets and real threads (waitress on 127.0.0.1), on the test database
engine (SQLite, or PostgreSQL with PAYLATER_TEST_POSTGRES_URL): first requests for one day
racing fix one bill, every download is the same bytes, streamed by requests and httpx."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest
import sqlalchemy as sa
import waitress
from waitress import wasyncore

from paylater_sdk import Money
from paylater_sdk.client import AsyncPayLaterClient, PayLaterClient
from paylater_sdk.issuer import Issuer, create_app, get_issuer
from paylater_sdk.issuer.storage.schema import bills
from paylater_sdk.signing import generate_private_key, public_key_pem, serial_for
from tests._support.issuer import database_url

API_KEY = "0123456789abcdef0123456789abcdef"
THREADS = 6


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, Any], str, Issuer]]:
    key = generate_private_key("ed25519")
    merchant = {
        "id": "m_real",
        "name": "Real HTTP shop",
        "public_keys": [public_key_pem(key).decode()],
        "api_key": API_KEY,
        "notify_prefixes": ["http://127.0.0.1"],
        "return_prefixes": ["http://127.0.0.1"],
    }
    app = create_app(
        {"TEST_MODE": True, "DATABASE_URL": database_url(tmp_path), "MERCHANTS": [merchant]}
    )
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=THREADS)

    def run() -> None:
        with contextlib.suppress(OSError, ValueError):
            server.run()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    options = {
        "merchant_id": "m_real",
        "private_key": key,
        "key_serial": serial_for(key),
        "api_key": API_KEY,
    }
    try:
        yield options, f"http://127.0.0.1:{server.effective_port}", get_issuer(app)
    finally:
        server.task_dispatcher.shutdown(timeout=5)
        with contextlib.suppress(OSError):
            wasyncore.close_all(server._map)
        thread.join(timeout=5)
        get_issuer(app).engine.dispose()


def test_racing_first_requests_fix_one_bill_and_every_download_is_equal(
    served: tuple[dict[str, Any], str, Issuer], tmp_path: Path
) -> None:
    options, url, issuer = served
    buyer = issuer.create_buyer(limit=Money("5000.00", "CNY"))
    with PayLaterClient(url, **options) as client:
        checkout = client.checkouts.create(
            out_trade_no="H1",
            amount=Money("300.00", "CNY"),
            description="Tea 茶",
            notify_url="http://127.0.0.1/notify",
            return_url="http://127.0.0.1/return",
        )
        issuer.orders.authorize(checkout.id, buyer_id=buyer.id, plan_id="free-3")
        order = client.checkouts.get(checkout.id).order
        assert order is not None
        client.orders.capture(order.id)
        day = issuer.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
        issuer.advance_clock(86400)
        barrier = threading.Barrier(THREADS, timeout=30)

        def first(i: int) -> Any:
            barrier.wait()
            return client.bills.trade(day)

        with ThreadPoolExecutor(THREADS) as pool:
            answers = list(pool.map(first, range(THREADS)))
        assert len({(a.download_url, a.hash_value) for a in answers}) == 1
        with issuer.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(bills)).scalar() == 1

        def download(i: int) -> bytes:
            barrier.wait()
            dest = tmp_path / f"bill-{i}.csv.gz"
            client.bills.download(day, dest)
            return dest.read_bytes()

        with ThreadPoolExecutor(THREADS) as pool:
            files = set(pool.map(download, range(THREADS)))
    [content] = files
    assert hashlib.sha256(content).hexdigest() == answers[0].hash_value

    async def fetch() -> bytes:
        dest = tmp_path / "async.csv.gz"
        async with AsyncPayLaterClient(url, **options) as aclient:
            await aclient.bills.download(day, dest)
        return dest.read_bytes()

    assert anyio.run(fetch) == content
