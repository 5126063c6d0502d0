"""The example shop as a real deployment: ``python -m examples.merchant_flask`` (waitress)
in a subprocess, behind a small recording proxy on 127.0.0.1.

The shop's PUBLIC_URL is the proxy, so the issuer's notifications and the buyer's return
pass through it: the proxy records every notification as delivered (headers and raw body,
for re-sends), can hold them (answer 503, so the issuer retries later) and can kill the
shop in the middle of one.
"""

from __future__ import annotations

import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from paylater_sdk.signing import private_key_pem

from ._harness import SECRETS, Merchant
from ._http import Api, Browser
from ._notify import Delivery
from ._procs import REPO, Server, free_port

__all__ = ["Proxy", "differences", "proxy", "purchase", "reconcile", "shop_env", "shop_server"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class Proxy:
    def __init__(self) -> None:
        self.target = ""
        self.notifications: list[Delivery] = []
        self.hold = False
        self.kill_next: Callable[[], None] | None = None
        self.killed = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1 << 20))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                status, out_headers, out = outer.handle(self.command, self.path, headers, body)
                try:
                    self.send_response(status)
                    for name, value in out_headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass

            def do_GET(self) -> None:
                self._relay()

            def do_POST(self) -> None:
                self._relay()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if method == "POST" and path.startswith("/pay/notify"):
            with self.lock:
                self.notifications.append(Delivery(path, headers, body))
                kill, self.kill_next = self.kill_next, None
            if self.hold:
                return 503, [], b"held by the test"
            if kill is not None:
                # The shop gets the notification and dies while it handles it.
                sender = threading.Thread(
                    target=self._forward, args=(method, path, headers, body), daemon=True
                )
                sender.start()
                time.sleep(0.02)
                kill()
                self.killed.set()
                return 502, [], b"shop killed"
        return self._forward(method, path, headers, body)

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        try:
            answer = requests.request(
                method,
                self.target + path,
                headers=headers,
                data=body,
                timeout=20,
                allow_redirects=False,
            )
        except requests.RequestException:
            return 502, [], b"shop unreachable"
        kept = [(k, v) for k, v in answer.raw.headers.items() if k.lower() not in _HOP]
        return answer.status_code, kept, answer.content

    def recorded(self) -> list[Delivery]:
        with self.lock:
            return list(self.notifications)


@contextmanager
def proxy() -> Iterator[Proxy]:
    relay = Proxy()
    thread = threading.Thread(target=relay.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        relay.server.shutdown()
        relay.server.server_close()
        thread.join(5)


def shop_env(
    tmp_path: Path, merchant: Merchant, issuer_url: str, public_url: str, database_url: str
) -> dict[str, str]:
    """The SHOP_* variables of a deployment (secrets registered for the log check)."""
    key_file = tmp_path / "merchant_key.pem"
    key_file.write_bytes(private_key_pem(merchant.key))
    secret, password = secrets.token_hex(24), secrets.token_hex(12)
    SECRETS.update({secret, password})
    return {
        "SHOP_SECRET_KEY": secret,
        "SHOP_ADMIN_PASSWORD": password,
        "SHOP_PAYLATER_BASE_URL": issuer_url,
        "SHOP_PAYLATER_MERCHANT_ID": merchant.id,
        "SHOP_PAYLATER_PRIVATE_KEY": str(key_file),
        "SHOP_PAYLATER_API_KEY": merchant.api_key,
        "SHOP_DATABASE_URL": database_url,
        "SHOP_PUBLIC_URL": public_url,
    }


def shop_server(name: str, logdir: Path, env: dict[str, str]) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "examples.merchant_flask", "--port", str(port)]
    return Server(name, command, logdir, env=env, port=port, ready_path="/cart")


def reconcile(env: dict[str, str]) -> str:
    """``flask --app examples.merchant_flask reconcile``, as cron would run it."""
    import os
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "examples.merchant_flask", "reconcile"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, f"reconcile failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def purchase(shop_url: str, issuer_url: str, buyer: dict[str, Any], *, come_back: bool) -> str:
    """A buyer buys headphones in the shop and authorizes; returns the checkout id."""
    browser = requests.Session()
    page = browser.get(shop_url + "/products/headphones", timeout=20)
    found = _CSRF.search(page.text)
    assert found is not None, page.text[:300]
    token = found.group(1)
    added = browser.post(
        shop_url + "/cart/add",
        data={"csrf_token": token, "product_id": "headphones"},
        allow_redirects=False,
        timeout=20,
    )
    assert added.status_code == 303, added.text[:300]
    page = browser.get(shop_url + "/checkout", timeout=20)
    plan = re.search(r'value="([^"]+)" data-periods="3"', page.text)
    assert plan is not None, page.text[:500]
    paid = browser.post(
        shop_url + "/checkout/pay",
        data={"csrf_token": token, "plan_id": plan.group(1)},
        allow_redirects=False,
        timeout=20,
    )
    assert paid.status_code == 303, paid.text[:300]
    checkout_id = paid.headers["Location"].rsplit("/", 1)[1]
    back = Browser([issuer_url]).authorize(checkout_id, buyer, plan_id=plan.group(1))
    if come_back:
        assert browser.get(back, allow_redirects=False, timeout=20).status_code == 303
    return checkout_id


def shop_orders(database_url: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            result = conn.execute(
                sa.text(
                    "SELECT out_trade_no, checkout_id, state, captured_minor, refunded_minor "
                    "FROM orders"
                )
            )
            return [dict(r._mapping) for r in result]
    finally:
        engine.dispose()


def issuer_view(api: Api, checkout_id: str) -> tuple[str, int, int]:
    answer = api.get(f"/v1/checkouts/{checkout_id}")
    assert answer.status == 200, answer.body[:300]
    checkout = answer.json()
    order = checkout.get("order") or {}
    return (
        order.get("state") or checkout["state"],
        (order.get("captured_amount") or {}).get("value", 0),
        (order.get("refunded_amount") or {}).get("value", 0),
    )


def differences(api: Api, shop_database_url: str) -> list[Any]:
    """Every order where the shop's (state, captured, refunded) is not the issuer's."""
    found = []
    for row in shop_orders(shop_database_url):
        assert row["checkout_id"], row
        mine = (row["state"], row["captured_minor"], row["refunded_minor"])
        theirs = issuer_view(api, row["checkout_id"])
        if mine != theirs:
            found.append((row["out_trade_no"], mine, theirs))
    return found
