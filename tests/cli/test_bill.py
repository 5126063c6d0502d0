"""``paylater bill DATE`` against a real issuer over HTTP (waitress on 127.0.0.1): the file
written once its SHA-256 checks, the summary printed; a day not over is one line of error."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import waitress
from click.testing import CliRunner
from waitress import wasyncore

from paylater_sdk import Money
from paylater_sdk.cli import main
from paylater_sdk.client import PayLaterClient
from paylater_sdk.issuer import Issuer, create_app, get_issuer
from paylater_sdk.signing import generate_private_key, private_key_pem, public_key_pem, serial_for
from tests._support.issuer import database_url

API_KEY = "0123456789abcdef0123456789abcdef"
MERCHANT = "m_cli"
CST = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, str], Issuer, PayLaterClient]]:
    """A test-mode issuer on a real socket, the CLI's environment and a client."""
    key = generate_private_key("ed25519")
    key_path = tmp_path / "merchant.pem"
    key_path.write_bytes(private_key_pem(key))
    merchant = {
        "id": MERCHANT,
        "name": "CLI shop",
        "public_keys": [public_key_pem(key).decode()],
        "api_key": API_KEY,
        "notify_prefixes": ["http://127.0.0.1:9/"],
        "return_prefixes": ["http://127.0.0.1:9/"],
    }
    app = create_app(
        {"TEST_MODE": True, "DATABASE_URL": database_url(tmp_path), "MERCHANTS": [merchant]}
    )
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)

    def run() -> None:
        with contextlib.suppress(OSError, ValueError):
            server.run()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}"
    env = {
        "PAYLATER_BASE_URL": url,
        "PAYLATER_MERCHANT_ID": MERCHANT,
        "PAYLATER_PRIVATE_KEY": str(key_path),
        "PAYLATER_API_KEY": API_KEY,
    }
    client = PayLaterClient(
        url, merchant_id=MERCHANT, private_key=key, key_serial=serial_for(key), api_key=API_KEY
    )
    try:
        yield env, get_issuer(app), client
    finally:
        client.close()
        server.task_dispatcher.shutdown(timeout=5)
        with contextlib.suppress(OSError):
            wasyncore.close_all(server._map)
        thread.join(timeout=5)
        get_issuer(app).engine.dispose()


def test_bill_downloads_and_checks_a_day(
    served: tuple[dict[str, str], Issuer, PayLaterClient], tmp_path: Path
) -> None:
    env, issuer, client = served
    buyer = issuer.create_buyer(limit=Money("5000.00", "CNY"))
    checkout = client.checkouts.create(
        out_trade_no="CLI-B1",
        amount=Money("300.00", "CNY"),
        description="Tea 茶",
        notify_url="http://127.0.0.1:9/notify",
        return_url="http://127.0.0.1:9/return",
    )
    issuer.orders.authorize(checkout.id, buyer_id=buyer.id, plan_id="free-3")
    order = client.checkouts.get(checkout.id).order
    assert order is not None
    client.orders.capture(order.id)
    day = issuer.now().astimezone(CST).date()
    issuer.advance_clock(86400)
    out = tmp_path / "bill.csv.gz"
    result = CliRunner().invoke(main, ["bill", day.isoformat(), "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert result.stdout.splitlines() == [
        f"{out}: SHA-256 {digest} verified",
        "1 line(s): gross 300.00, merchant fee 5.40, refunds 0.00, net 294.60",
    ]
    assert (
        gzip.decompress(out.read_bytes())
        .decode()
        .splitlines()[1]
        .endswith(",CAPTURE,free-3,300.00,5.40,294.60")
    )
    args = ["bill", "2999-01-01", "--out", str(tmp_path / "x")]
    later = CliRunner().invoke(main, args, env=env)
    assert later.exit_code == 1
    [line] = later.stderr.splitlines()
    assert line.startswith("Error: bill 2999-01-01: the bill of 2999-01-01 is made once")
    assert not (tmp_path / "x").exists()
