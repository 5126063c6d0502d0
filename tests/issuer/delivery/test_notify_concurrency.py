"""Concurrent delivery: a slow merchant never holds up another, the bounds hold, and two
workers (threads, or separate engines as separate processes would have) never send the same
attempt twice nor lose a notification.

Issue 9, defect 11: with one sender and a 5 s timeout, a notification to another merchant
arrived after 99 s behind one slow endpoint. Runs on SQLite and, with
PAYLATER_TEST_POSTGRES_URL, on PostgreSQL. The time bounds are generous for a loaded
2-core machine: the fast merchant must be served in under 2.5 s while each attempt to the
slow endpoint takes 5 s (its timeout).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from paylater_sdk.issuer.delivery import outbox
from paylater_sdk.issuer.delivery import sender as notify_delivery
from paylater_sdk.issuer.delivery.store import notification_attempts, notifications
from paylater_sdk.issuer.storage.schema import make_engine, metadata
from tests._support.issuer import POSTGRES_URL, database_url
from tests._support.notify_fakes import START, FakeConfig, FakeIssuer, enqueue

NOW = int(START.timestamp())


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return database_url(tmp_path)


@pytest.fixture
def engines(db_url: str) -> Iterator[Callable[[], Engine]]:
    """Makes engines on one fresh database (each like another issuer process's)."""
    made: list[Engine] = []

    def make() -> Engine:
        made.append(make_engine(db_url))
        if len(made) == 1:
            metadata.create_all(made[0])
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


def _shop_issuer(engine: Engine, shops: dict[str, str], schedule: tuple[int, ...] = (15,)) -> Any:
    """A fake issuer whose merchants are ``shops`` (merchant id -> notify prefix)."""
    issuer = FakeIssuer(engine, schedule)
    issuer.prefixes = {merchant: [prefix] for merchant, prefix in shops.items()}
    return issuer


def _enqueue_for(issuer: FakeIssuer, merchant: str, url: str, count: int) -> list[str]:
    return [
        enqueue(issuer, merchant_id=merchant, notify_url=url, resource={"id": f"{merchant}_{n}"})
        for n in range(count)
    ]


def _wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _states(engine: Engine) -> dict[str, tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(notifications.c.id, notifications.c.state, notifications.c.attempts)
        ).all()
    return {row.id: (row.state, row.attempts) for row in rows}


def _attempt_numbers(engine: Engine) -> dict[str, list[int]]:
    numbers: dict[str, list[int]] = {}
    with engine.connect() as conn:
        for row in conn.execute(
            sa.select(notification_attempts).order_by(
                notification_attempts.c.notification_id, notification_attempts.c.number
            )
        ):
            numbers.setdefault(row.notification_id, []).append(row.number)
    return numbers


def _in_order(sent: list[str], due: list[str], *, bound: int) -> bool:
    """FIFO as far as ``bound`` attempts in flight allow: the k-th attempt to start is
    the k-th due or at most ``bound - 1`` places from it (claims are strictly in order;
    the attempts claimed together may reach the transport in any order)."""
    return sorted(sent) == sorted(due) and all(
        abs(sent.index(event_id) - k) < bound for k, event_id in enumerate(due)
    )


class Probe:
    """A transport that records who it is called for and how many calls overlap.

    The merchant is the first label of the URL's host (``https://m1.example/...``). Each
    call takes ``delay`` seconds; ``fail_first`` answers 500 to the first call for an id.
    """

    def __init__(self, delay: float = 0.0, *, fail_first: bool = False, inner: Any = None) -> None:
        self.delay = delay
        self.fail_first = fail_first
        self.inner = inner
        self.lock = threading.Lock()
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.peak_total = 0
        self.calls: list[tuple[str, str]] = []  # (merchant, envelope id), in start order

    def merchant_of(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.hostname == "127.0.0.1":
            return parts.path.split("/")[1]
        return str(parts.hostname).split(".")[0]

    def __call__(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        merchant, event_id = self.merchant_of(url), json.loads(body)["id"]
        with self.lock:
            first = all(seen != event_id for _, seen in self.calls)
            self.calls.append((merchant, event_id))
            self.in_flight[merchant] += 1
            self.peak[merchant] = max(self.peak[merchant], self.in_flight[merchant])
            self.peak_total = max(self.peak_total, sum(self.in_flight.values()))
        try:
            if self.inner is not None:
                status: int = self.inner(url, headers, body, timeout)
                return status
            time.sleep(self.delay)
            return 500 if self.fail_first and first else 200
        finally:
            with self.lock:
                self.in_flight[merchant] -= 1

    def sent(self, merchant: str) -> list[str]:
        with self.lock:
            return [event_id for m, event_id in self.calls if m == merchant]


# --- a slow merchant endpoint, over real HTTP ---------------------------------------------


class _Shops(ThreadingHTTPServer):
    """Two merchants on one loopback server: ``/slow/`` hangs until released, ``/fast/``
    answers at once."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ShopHandler)
        self.release = threading.Event()
        self.fast_arrived: list[float] = []
        self.fast_event = threading.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the issuer hung up on a hanging request (its timeout): expected here


class _ShopHandler(BaseHTTPRequestHandler):
    server: _Shops

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.startswith("/slow/"):
            self.server.release.wait(30)
        else:
            self.server.fast_arrived.append(time.monotonic())
            self.server.fast_event.set()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_slow_merchant_does_not_delay_another_merchants_notification(
    engines: Callable[[], Engine],
) -> None:
    shops = _Shops()
    server = threading.Thread(target=shops.serve_forever, daemon=True)
    server.start()
    engine = engines()
    issuer = _shop_issuer(
        engine, {"slow": f"{shops.base}/slow/", "fast": f"{shops.base}/fast/"}, schedule=(60,)
    )
    slow = _enqueue_for(issuer, "slow", f"{shops.base}/slow/notify", 4)  # all due first
    [fast] = _enqueue_for(issuer, "fast", f"{shops.base}/fast/notify", 1)
    probe = Probe(inner=outbox.requests_transport)
    made: list[int] = []
    started = time.monotonic()
    passing = threading.Thread(
        target=lambda: made.append(
            outbox.deliver_due(issuer, transport=probe, timeout=5.0, per_merchant=2)
        )
    )
    passing.start()
    try:
        assert shops.fast_event.wait(10), "the fast merchant waited behind the slow one"
        assert shops.fast_arrived[0] - started < 2.5
        assert _wait_until(lambda: _states(engine)[fast] == ("DELIVERED", 1), 2.5)
        # The first two slow attempts run out their 5 s timeout; then the endpoint recovers.
        assert _wait_until(lambda: len(_attempt_numbers(engine)) >= 3, 15)
    finally:
        shops.release.set()
        passing.join(30)
        shops.shutdown()
        shops.server_close()
        server.join(5)
    assert made == [5]
    assert probe.peak["slow"] == 2  # the per-merchant bound, reached and never exceeded
    assert _in_order(probe.sent("slow"), slow, bound=2)
    states = _states(engine)
    assert [states[e] for e in slow[:2]] == [("PENDING", 1)] * 2  # timed out: retried later
    assert [states[e] for e in slow[2:]] == [("DELIVERED", 1)] * 2
    with engine.connect() as conn:
        errors = conn.execute(
            sa.select(notifications.c.last_error).where(notifications.c.id.in_(slow[:2]))
        ).scalars()
        assert all("timed out" in error for error in errors)


def test_a_pass_by_hand_serves_merchants_side_by_side_one_at_a_time_each(
    engines: Callable[[], Engine],
) -> None:
    """``deliver_due(issuer)`` with its defaults, as ``Issuer.deliver_pending()`` calls it."""
    issuer = _shop_issuer(
        engines(), {"slow": "https://slow.example/", "fast": "https://fast.example/"}
    )
    release, arrived = threading.Event(), threading.Event()

    def endpoint(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        if url.startswith("https://slow."):
            release.wait(30)
        else:
            arrived.set()
        return 200

    probe = Probe(inner=endpoint)
    slow = _enqueue_for(issuer, "slow", "https://slow.example/notify", 3)
    [fast] = _enqueue_for(issuer, "fast", "https://fast.example/notify", 1)
    issuer.config = FakeConfig(notify_schedule=(15,), notify_transport=probe)
    made: list[int] = []
    passing = threading.Thread(target=lambda: made.append(outbox.deliver_due(issuer)))
    passing.start()
    try:
        assert arrived.wait(10), "the fast merchant waited behind the slow one"
        # the slow merchant's first attempt is in flight beside it (it may start a moment
        # after the fast one on a loaded machine): one at a time per merchant
        deadline = time.monotonic() + 10
        while probe.in_flight["slow"] != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert probe.in_flight["slow"] == 1
    finally:
        release.set()
        passing.join(30)
    assert made == [4]
    assert probe.sent("slow") == slow  # exactly in the order they fell due
    assert probe.sent("fast") == [fast]
    assert probe.peak["slow"] == 1


class _SlotFreedDuringClaim(FakeIssuer):
    """Once armed, the pass's next read of the clock (inside its claim, after it counted
    the attempts in flight) waits until the slow attempt has finished and been recorded:
    the slot frees while the claim still sees it taken."""

    def __init__(self, engine: Engine, shops: dict[str, str]) -> None:
        super().__init__(engine, (15,))
        self.prefixes = {merchant: [prefix] for merchant, prefix in shops.items()}
        self.release = threading.Event()
        self.armed = threading.Event()
        self.pass_thread: threading.Thread | None = None

    def now(self) -> datetime:
        if self.armed.is_set() and threading.current_thread() is self.pass_thread:
            self.armed.clear()
            self.release.set()
            assert _wait_until(lambda: len(_attempt_numbers(self.engine)) == 2, 10)
            time.sleep(0.2)  # the attempt's own bookkeeping (its slot) after the record
        return super().now()


def test_a_pass_does_not_end_while_an_attempt_frees_a_slot(
    engines: Callable[[], Engine],
) -> None:
    issuer = _SlotFreedDuringClaim(
        engines(), {"slow": "https://slow.example/", "fast": "https://fast.example/"}
    )

    def endpoint(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        if url.startswith("https://slow."):
            issuer.release.wait(30)
        else:
            issuer.armed.set()
        return 200

    slow = _enqueue_for(issuer, "slow", "https://slow.example/notify", 3)
    _enqueue_for(issuer, "fast", "https://fast.example/notify", 1)
    made: list[int] = []
    issuer.pass_thread = threading.Thread(
        target=lambda: made.append(outbox.deliver_due(issuer, transport=Probe(inner=endpoint)))
    )
    issuer.pass_thread.start()
    issuer.pass_thread.join(30)
    issuer.release.set()
    assert made == [4]  # the two slow ones left were still claimed in this pass
    assert {e: _states(issuer.engine)[e] for e in slow} == dict.fromkeys(slow, ("DELIVERED", 1))


# --- the bounds ------------------------------------------------------------------------


def test_per_merchant_and_global_bounds_hold_in_a_pass(engines: Callable[[], Engine]) -> None:
    shops = {m: f"https://{m}.example/" for m in ("m1", "m2", "m3")}
    issuer = _shop_issuer(engines(), shops)
    ids = {m: _enqueue_for(issuer, m, f"{p}notify", 6) for m, p in shops.items()}
    probe = Probe(delay=0.3)
    made = outbox.deliver_due(issuer, transport=probe, per_merchant=2, max_in_flight=4)
    assert made == 18
    assert probe.peak == Counter({"m1": 2, "m2": 2, "m3": 2})
    assert probe.peak_total <= 4
    assert {m: sorted(probe.sent(m)) for m in ids} == {m: sorted(ids[m]) for m in ids}
    assert set(_states(issuer.engine).values()) == {("DELIVERED", 1)}


def test_within_a_merchant_attempts_start_in_order_as_far_as_the_bound_allows(
    engines: Callable[[], Engine],
) -> None:
    issuer = _shop_issuer(engines(), {"m1": "https://m1.example/"})
    ids = _enqueue_for(issuer, "m1", "https://m1.example/notify", 8)
    probe = Probe(delay=0.2)
    assert outbox.deliver_due(issuer, transport=probe, per_merchant=2) == 8
    sent = probe.sent("m1")
    assert sorted(sent) == sorted(ids)
    assert _in_order(sent, ids, bound=2)
    assert probe.peak["m1"] == 2


def test_the_worker_serves_a_new_notification_while_a_slow_merchant_holds_its_slots(
    engines: Callable[[], Engine],
) -> None:
    issuer = _shop_issuer(
        engines(), {"slow": "https://slow.example/", "fast": "https://fast.example/"}
    )
    release = threading.Event()
    arrived: list[float] = []

    def endpoint(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        if url.startswith("https://slow."):
            if not release.wait(timeout):
                raise TimeoutError("read timed out")
        else:
            arrived.append(time.monotonic())
        return 200

    probe = Probe(inner=endpoint)
    slow = _enqueue_for(issuer, "slow", "https://slow.example/notify", 4)
    worker = outbox.DeliveryWorker(issuer, interval=0.2, transport=probe, timeout=5.0)
    worker.start()
    try:
        assert _wait_until(lambda: probe.in_flight["slow"] == 2, 5)
        enqueued = time.monotonic()
        [fast] = _enqueue_for(issuer, "fast", "https://fast.example/notify", 1)
        assert _wait_until(lambda: bool(arrived), 10), "the fast merchant waited"
        assert arrived[0] - enqueued < 2.5
        assert probe.in_flight["slow"] == 2  # still hanging: the fast one went past them
        release.set()
        assert _wait_until(lambda: set(_states(issuer.engine).values()) == {("DELIVERED", 1)}, 20)
    finally:
        release.set()
        worker.stop()
    assert probe.peak["slow"] == 2
    assert _in_order(probe.sent("slow"), slow, bound=2)
    assert probe.sent("fast") == [fast]


# --- several workers -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["two passes, one engine", "two workers, two engines"])
def test_two_workers_never_send_the_same_attempt_and_lose_nothing(
    engines: Callable[[], Engine], mode: str
) -> None:
    shops = {m: f"https://{m}.example/" for m in ("m1", "m2", "m3", "m4")}
    first = _shop_issuer(engines(), shops, schedule=(0,))  # a failure is due again at once
    second = first if mode.endswith("one engine") else _shop_issuer(engines(), shops, (0,))
    ids = [e for m, p in shops.items() for e in _enqueue_for(first, m, f"{p}notify", 10)]
    probe = Probe(delay=0.01, fail_first=True)
    if mode.startswith("two passes"):
        barrier = threading.Barrier(2)

        def passes(issuer: FakeIssuer) -> None:
            barrier.wait()
            while outbox.deliver_due(issuer, transport=probe, per_merchant=2):
                pass

        threads = [threading.Thread(target=passes, args=(i,)) for i in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    else:
        workers = [
            outbox.DeliveryWorker(i, interval=0.05, transport=probe) for i in (first, second)
        ]
        for worker in workers:
            worker.start()
        try:
            assert _wait_until(
                lambda: set(_states(first.engine).values()) == {("DELIVERED", 2)}, 60
            )
        finally:
            for worker in workers:
                worker.stop()
    # Every notification: one failed attempt, one delivered, each sent exactly once.
    assert Counter(event_id for _, event_id in probe.calls) == Counter(dict.fromkeys(ids, 2))
    assert _attempt_numbers(first.engine) == {e: [1, 2] for e in ids}
    assert _states(first.engine) == dict.fromkeys(ids, ("DELIVERED", 2))
    assert max(probe.peak.values()) <= 2 * 2  # the bound is per worker: two workers


def test_a_claim_in_progress_elsewhere_is_skipped_on_postgresql(
    engines: Callable[[], Engine],
) -> None:
    """PostgreSQL: another worker's locked rows are skipped, not waited for. SQLite has no
    row locks: the other claim waits for the write lock, then finds the rows claimed."""
    engine, other = engines(), engines()
    issuer = _shop_issuer(engine, {"m1": "https://m1.example/"})
    ids = _enqueue_for(issuer, "m1", "https://m1.example/notify", 6)
    got: list[list[str]] = []
    done = threading.Event()

    def claim_elsewhere() -> None:
        rows = notify_delivery.claim(other, NOW, slots=10, per_merchant=10)
        got.append([row["id"] for row in rows])
        done.set()

    with engine.connect() as conn:
        transaction = conn.begin()  # a worker in the middle of its claiming transaction
        locked = conn.execute(
            sa.select(notifications.c.id)
            .order_by(notifications.c.seq)
            .limit(2)
            .with_for_update(skip_locked=True)
        ).scalars()
        locked_ids = list(locked)
        racer = threading.Thread(target=claim_elsewhere)
        racer.start()
        finished_meanwhile = done.wait(5 if POSTGRES_URL else 0.5)
        transaction.rollback()  # it claims nothing after all: its rows are free again
    racer.join(40)
    assert locked_ids == ids[:2]
    if POSTGRES_URL:
        assert finished_meanwhile  # no waiting behind the other worker's rows
        assert got == [ids[2:]]
        rows = notify_delivery.claim(other, NOW, slots=10, per_merchant=10)
        assert [row["id"] for row in rows] == ids[:2]
    else:
        assert not finished_meanwhile  # serialised by SQLite's write lock
        assert got == [ids]
    assert _states(engine) == dict.fromkeys(ids, ("PENDING", 1))  # each claimed exactly once


def test_a_claim_never_exceeds_the_per_merchant_bound_or_the_slots(
    engines: Callable[[], Engine],
) -> None:
    shops = {m: f"https://{m}.example/" for m in ("m1", "m2")}
    issuer = _shop_issuer(engines(), shops)
    m1 = _enqueue_for(issuer, "m1", "https://m1.example/notify", 5)  # all due before m2's
    m2 = _enqueue_for(issuer, "m2", "https://m2.example/notify", 5)
    rows = notify_delivery.claim(issuer.engine, NOW, slots=3, per_merchant=2, busy={"m1": 1})
    assert [row["id"] for row in rows] == [m1[0], m2[0], m2[1]]
    assert [row["attempts"] for row in rows] == [0, 0, 0]  # as read before the claim
    rows = notify_delivery.claim(issuer.engine, NOW, slots=9, per_merchant=2, busy={"m1": 2})
    assert [row["id"] for row in rows] == m2[2:4]  # m1 is full: left out of the query
    rows = notify_delivery.claim(issuer.engine, NOW, slots=9, per_merchant=9, skip=[m1[1]])
    assert [row["id"] for row in rows] == [*m1[2:], m2[4]]
    rows = notify_delivery.claim(issuer.engine, NOW, slots=9, per_merchant=9)
    assert [row["id"] for row in rows] == [m1[1]]
    assert notify_delivery.claim(issuer.engine, NOW, slots=9, per_merchant=9) == []  # leased
    later = NOW + notify_delivery.LEASE_SECONDS  # every lease ran out: all due again
    rows = notify_delivery.claim(issuer.engine, later, slots=20, per_merchant=20)
    assert [row["id"] for row in rows] == m1 + m2
    assert {row["attempts"] for row in rows} == {1}


def test_a_claim_with_nothing_due_opens_no_transaction(engines: Callable[[], Engine]) -> None:
    """The worker claims after every attempt and every poll: when nothing is due, a quick
    read says so and no write transaction (SQLite's write lock) is taken for it."""
    issuer = _shop_issuer(engines(), {"m1": "https://m1.example/"})
    begun: list[bool] = []
    sa.event.listen(issuer.engine, "begin", lambda conn: begun.append(True))
    assert notify_delivery.claim(issuer.engine, NOW, slots=5, per_merchant=5) == []
    assert begun == []
    ids = _enqueue_for(issuer, "m1", "https://m1.example/notify", 2)
    begun.clear()
    assert notify_delivery.claim(issuer.engine, NOW - 3600, slots=5, per_merchant=5) == []
    assert begun == []  # queued, but not due an hour ago
    rows = notify_delivery.claim(issuer.engine, NOW, slots=5, per_merchant=5)
    assert [row["id"] for row in rows] == ids
    assert len(begun) == 1
    begun.clear()
    assert notify_delivery.claim(issuer.engine, NOW, slots=5, per_merchant=5) == []  # leased
    assert begun == []


def test_the_claim_query_skips_locked_rows_on_postgresql_only() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    query = notify_delivery._due_statement(leave_merchants=True, leave_ids=True)
    on_postgresql = str(query.compile(dialect=postgresql.dialect()))
    assert on_postgresql.rstrip().endswith("FOR UPDATE SKIP LOCKED")
    assert "merchant_id NOT IN" in on_postgresql
    assert "FOR UPDATE" not in str(query.compile(dialect=sqlite.dialect()))
