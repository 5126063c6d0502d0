"""The machinery of bench_http.py: servers, loads, seeding and the table."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from paylater_sdk import Money
from paylater_sdk.client import PayLaterClient
from paylater_sdk.signing import generate_private_key, private_key_pem, public_key_pem, serial_for

HERE = Path(__file__).resolve().parent
API_KEY = "0123456789abcdef0123456789abcdef"
MERCHANT = "m_bench"
_CSRF = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
_TICK = os.sysconf("SC_CLK_TCK")
AMOUNT = Money("120.00", "CNY")


@dataclass
class Figure:
    """One row of the table: what was measured, its value, the baseline and the floor."""

    engine: str
    name: str
    value: float
    unit: str
    baseline: str = ""
    floor: str = ""
    ok: bool | None = None


# -- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU of every thread of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _paylater() -> str:
    beside = Path(sys.executable).parent / "paylater"
    return str(beside) if beside.is_file() else "paylater"


class Stack:
    """The issuer, the hello-world and the one-insert server for one database."""

    def __init__(self, url: str, folder: Path, issuers: int = 1) -> None:
        self.url = url
        self.folder = folder
        self.issuers = issuers
        self.procs: list[subprocess.Popen[bytes]] = []
        self.key = generate_private_key("ed25519")
        self.issuer_urls: list[str] = []
        self.issuer_pids: list[int] = []

    def __enter__(self) -> Stack:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.url.startswith("postgresql"):
            _reset_postgres(self.url)
        hello_port, insert_port = free_port(), free_port()
        self.hello_url = f"http://127.0.0.1:{hello_port}"
        self.insert_url = f"http://127.0.0.1:{insert_port}"
        self.hello_pid = self._start(
            [sys.executable, str(HERE / "_http_servers.py"), "hello", str(hello_port)],
            self.hello_url + "/",
        )
        merchants = self.folder / "merchants.json"
        merchants.write_text(json.dumps([self._merchant()]))
        for _ in range(self.issuers):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            cmd = [_paylater(), "issuer", "serve", "--test-mode", "--database", self.url]
            cmd += ["--port", str(port), "--public-url", base, "--merchants", str(merchants)]
            self.issuer_pids.append(self._start(cmd, base + "/v1/openapi.json"))
            self.issuer_urls.append(base)
        # After the issuer: it refuses to start on a database with tables it does not know.
        self.insert_pid = self._start(
            [sys.executable, str(HERE / "_http_servers.py"), "insert", str(insert_port), self.url],
            self.insert_url + "/",
        )
        return self

    def _merchant(self) -> dict[str, Any]:
        return {
            "id": MERCHANT,
            "name": "Bench",
            "public_keys": [public_key_pem(self.key).decode()],
            "api_key": API_KEY,
            "notify_prefixes": [self.hello_url + "/"],
            "return_prefixes": ["https://shop.example/"],
        }

    def _start(self, cmd: list[str], ready: str) -> int:
        log = (self.folder / f"server{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        _wait_ready(ready, proc)
        return proc.pid

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def client(self, index: int = 0) -> PayLaterClient:
        return PayLaterClient(
            self.issuer_urls[index % len(self.issuer_urls)],
            merchant_id=MERCHANT,
            private_key=private_key_pem(self.key),
            key_serial=serial_for(self.key),
            api_key=API_KEY,
            max_retries=0,
        )

    def buyer(self, index: int = 0) -> dict[str, Any]:
        answer = requests.post(
            self.issuer_urls[index % len(self.issuer_urls)] + "/_test/buyers",
            json={"limit": {"value": 10**11, "currency": "CNY"}},
            timeout=10,
        )
        answer.raise_for_status()
        buyer: dict[str, Any] = answer.json()
        return buyer

    def issuer_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.issuer_pids)


def _reset_postgres(url: str) -> None:
    """Start from an empty database (the script owns it)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


# -- the buyer's side and a whole purchase ---------------------------------------------------


@dataclass
class Shopper:
    """One client thread's merchant client, buyer and consent-page session."""

    stack: Stack
    index: int
    client: PayLaterClient = field(init=False)
    buyer: dict[str, Any] = field(init=False)
    browser: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.client = self.stack.client(self.index)
        self.buyer = self.stack.buyer(self.index)

    def create(self) -> Any:
        return self.client.checkouts.create(
            out_trade_no=uuid.uuid4().hex[:32],
            amount=AMOUNT,
            description="bench",
            notify_url=self.stack.hello_url + "/notify",
            return_url="https://shop.example/return",
        )

    def consent(self, checkout: Any, plan_id: str = "fenfu-6") -> None:
        page = checkout.authorize_url
        first = self.browser.get(page, timeout=30)
        signed = self.browser.post(
            page,
            data={
                "csrf_token": _csrf(first.text),
                "step": "signin",
                "phone": self.buyer["phone"],
                "code": self.buyer["test_code"],
            },
            timeout=30,
        )
        done = self.browser.post(
            page,
            data={"csrf_token": _csrf(signed.text), "step": "confirm", "plan_id": plan_id},
            allow_redirects=False,
            timeout=30,
        )
        if done.status_code != 303:
            raise RuntimeError(f"consent answered {done.status_code}")

    def authorized(self) -> str:
        """A new authorized order's id (create + consent + get: five requests)."""
        checkout = self.create()
        self.consent(checkout)
        order_id: str = self.client.checkouts.get(checkout.id).order.id
        return order_id

    def purchase(self) -> str:
        """Create, the consent pages, find the order, capture: six requests."""
        order_id = self.authorized()
        self.client.orders.capture(order_id)
        return order_id


def _csrf(page: str) -> str:
    match = _CSRF.search(page)
    if match is None:
        raise RuntimeError("no csrf_token on the consent page")
    return match.group(1)


# -- loads -----------------------------------------------------------------------------------


@dataclass
class Run:
    latencies: list[float]
    errors: int
    elapsed: float
    cpu: float  # server CPU seconds spent during the run

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    @property
    def cpu_per_op_ms(self) -> float:
        return 1000 * self.cpu / max(1, len(self.latencies))


def run_load(
    work: Callable[[int], Callable[[], object]],
    clients: int,
    duration: float,
    cpu: Callable[[], float],
) -> Run:
    """``clients`` threads each call their ``work(i)()`` until ``duration`` has passed."""
    actions = [work(i) for i in range(clients)]  # set-up (buyers, sessions) is not timed
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def loop(action: Callable[[], object]) -> None:
        start_gate.wait()
        mine: list[float] = []
        while time.perf_counter() < deadline[0]:
            begin = time.perf_counter()
            try:
                action()
            except Exception:  # counted: a figure of its own
                with lock:
                    errors[0] += 1
                continue
            mine.append(time.perf_counter() - begin)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    cpu_before = cpu()
    began = time.perf_counter()
    deadline[0] = began + duration
    start_gate.wait()
    for thread in threads:
        thread.join()
    return Run(latencies, errors[0], time.perf_counter() - began, cpu() - cpu_before)


def load_figures(stack: Stack, engine: str, duration: float) -> list[Figure]:
    insert = run_load(
        lambda _i: _poster(stack.insert_url + "/insert"),
        8,
        duration,
        lambda: cpu_seconds(stack.insert_pid),
    )
    world = run_load(
        lambda _i: _getter(stack.hello_url + "/"),
        8,
        duration,
        lambda: cpu_seconds(stack.hello_pid),
    )
    shoppers = [Shopper(stack, i) for i in range(32)]
    purchase = run_load(lambda i: shoppers[i].purchase, 8, duration, stack.issuer_cpu)
    creates = {
        n: run_load(lambda i: shoppers[i].create, n, duration, stack.issuer_cpu) for n in (1, 8, 32)
    }
    known = shoppers[0].create().id
    gets = run_load(
        lambda i: lambda: shoppers[i].client.checkouts.get(known), 8, duration, stack.issuer_cpu
    )
    c8 = creates[8]
    ratio_cpu = purchase.cpu_per_op_ms / insert.cpu_per_op_ms
    return [
        Figure(engine, "hello-world at 8 clients", world.rate, "req/s", "800-1,250"),
        Figure(engine, "one INSERT+COMMIT at 8 clients", insert.rate, "req/s"),
        Figure(engine, "one INSERT+COMMIT: server CPU", insert.cpu_per_op_ms, "ms/req", "1.0-1.8"),
        Figure(engine, "purchase (6 requests): issuer CPU", purchase.cpu_per_op_ms, "ms", "40-48"),
        Figure(engine, "purchase p50 at 8 clients", 1000 * purchase.pct(0.5), "ms", "~200"),
        Figure(
            engine, "purchase CPU / insert CPU", ratio_cpu, "x", "~35", "<= 10", ratio_cpu <= 10
        ),
        _share(engine, "POST /v1/checkouts / insert req/s", c8.rate, insert.rate, 40),
        _share(engine, "GET /v1/checkouts/{id} / hello req/s", gets.rate, world.rate, 50),
        *(
            Figure(engine, f"POST /v1/checkouts at {n} clients", run.rate, "req/s", "115-160")
            for n, run in creates.items()
        ),
        Figure(
            engine,
            "POST /v1/checkouts p99 / p50 at 8",
            c8.pct(0.99) / c8.pct(0.5),
            "x",
            "",
            "< 5",
            c8.pct(0.99) / c8.pct(0.5) < 5,
        ),
        Figure(
            engine,
            "errors at 32 clients",
            creates[32].errors,
            "",
            "",
            "0",
            creates[32].errors == 0,
        ),
        Figure(
            engine,
            "issuer peak RSS",
            max(peak_rss_mb(p) for p in stack.issuer_pids),
            "MB",
            "",
            "< 150",
            max(peak_rss_mb(p) for p in stack.issuer_pids) < 150,
        ),
    ]


def _poster(url: str) -> Callable[[], object]:
    session = requests.Session()  # one per client thread
    return lambda: session.post(url, timeout=30)


def _getter(url: str) -> Callable[[], object]:
    session = requests.Session()
    return lambda: session.get(url, timeout=30)


def _share(engine: str, name: str, value: float, reference: float, floor: int) -> Figure:
    share = 100 * value / reference
    return Figure(engine, name, share, "%", "", f">= {floor}", share >= floor)


# -- growth: the same requests with many rows in the tables ----------------------------------


# -- several processes -----------------------------------------------------------------------


def multiprocess_figures(url: str, folder: Path, duration: float) -> list[Figure]:
    figures = []
    for n in (1, 2, 4):
        with Stack(url, folder / f"p{n}", issuers=n) as stack:
            shoppers = [Shopper(stack, i) for i in range(8)]
            run = run_load(lambda i, s=shoppers: s[i].create, 8, duration, stack.issuer_cpu)
            figures.append(
                Figure(
                    "PostgreSQL",
                    f"POST /v1/checkouts, {n} issuer process(es), 8 clients",
                    run.rate,
                    "req/s",
                    f"p50 {1000 * run.pct(0.5):.1f} ms",
                )
            )
    return figures


# -- the table -------------------------------------------------------------------------------


def print_table(figures: list[Figure], *, quick: bool) -> None:
    print(f"{'engine':<11} {'figure':<51} {'value':>11}  {'baseline':<18} {'floor':>7}  ok")
    for f in figures:
        ok = "" if f.ok is None else ("yes" if f.ok else "NO")
        value = f"{f.value:,.1f} {f.unit}".strip()
        print(f"{f.engine:<11} {f.name:<51} {value:>11}  {f.baseline:<18} {f.floor:>7}  {ok}")
    if quick:
        print(
            "(quick run: short loads, figures are noisy; compare only a full run with the floors)"
        )
