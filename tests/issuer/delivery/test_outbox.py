"""The notification outbox, against a real database and a fake issuer (no Flask).

The fake issuer (:mod:`.notify_fakes`) has exactly the interface delivery declares, a
clock the tests move by hand and a list of faults; the transport is a recorder, so every
test sees the exact bytes a merchant would receive and opens them with the merchant-side
``open_notification``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from paylater_sdk.errors import ReplayError
from paylater_sdk.issuer.delivery import outbox
from paylater_sdk.issuer.delivery import sender as notify_delivery
from paylater_sdk.issuer.storage.schema import make_engine, metadata
from paylater_sdk.signing import InMemoryNonceStore, generate_private_key, open_notification
from tests._support.issuer import database_url
from tests._support.notify_fakes import (
    API_KEY,
    START,
    URL,
    FakeConfig,
    FakeIssuer,
    Recorder,
)
from tests._support.notify_fakes import enqueue as _enqueue
from tests._support.notify_fakes import open_sealed as _open
from tests._support.notify_fakes import row as _row


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh database: a SQLite file, or PostgreSQL with PAYLATER_TEST_POSTGRES_URL."""
    engine = make_engine(database_url(tmp_path))
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def issuer(engine: Engine) -> FakeIssuer:
    return FakeIssuer(engine)


# --- enqueue ---------------------------------------------------------------------------


def test_enqueue_records_a_pending_notification_due_now(issuer: FakeIssuer) -> None:
    event_id = _enqueue(issuer)
    assert event_id.startswith("evt_")
    assert len(event_id) == 28
    row = _row(issuer, event_id)
    assert row.state == "PENDING"
    assert row.attempts == 0
    assert row.next_attempt_at == int(START.timestamp())
    assert json.loads(row.resource)["id"] == "co_1"


def test_enqueue_commits_or_rolls_back_with_the_callers_transaction(issuer: FakeIssuer) -> None:
    def change_state_then_fail() -> None:
        with issuer.engine.begin() as conn:
            outbox.enqueue(
                conn,
                merchant_id="m1",
                notify_url=URL,
                event_type="CHECKOUT.CLOSED",
                original_type="checkout",
                resource={"id": "co_2"},
                summary="",
                now=issuer.now(),
            )
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError, match="state change failed"):
        change_state_then_fail()
    count = sa.select(sa.func.count()).select_from(outbox.notifications)
    with issuer.engine.connect() as conn:
        assert conn.execute(count).scalar() == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"notify_url": "ftp://shop.example/n"}, "http"),
        ({"notify_url": "javascript:alert(1)"}, "http"),
        ({"now": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"merchant_id": ""}, "merchant_id"),
        ({"event_type": ""}, "event_type"),
    ],
)
def test_enqueue_refuses_bad_input(
    issuer: FakeIssuer, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _enqueue(issuer, **overrides)


# --- delivery --------------------------------------------------------------------------


def test_a_2xx_delivers_a_sealed_envelope_the_merchant_can_open(issuer: FakeIssuer) -> None:
    event_id = _enqueue(issuer)
    send = Recorder(204)
    assert outbox.deliver_due(issuer, transport=send) == 1
    [(url, headers, body, timeout)] = send.calls
    assert url == URL
    assert timeout == outbox.DEFAULT_NOTIFY_TIMEOUT
    assert headers["Content-Type"] == "application/json"
    note = _open(issuer, headers, body)
    assert note.id == event_id
    assert note.event_type == "CHECKOUT.AUTHORIZED"
    assert note.original_type == "checkout"
    assert note.summary == "checkout authorized"
    assert note.create_time == START
    assert note.resource == {"id": "co_1", "state": "AUTHORIZED", "amount": {"value": 12000}}
    assert b"co_1" not in body  # the resource travels encrypted
    row = _row(issuer, event_id)
    assert (row.state, row.attempts, row.last_status) == ("DELIVERED", 1, 204)
    assert row.delivered_at == int(START.timestamp())
    assert outbox.deliver_due(issuer, transport=send) == 0  # nothing is due any more
    assert issuer.fault_calls == [("POST", "/paylater/notify")]


def test_failures_retry_on_the_schedule_with_the_same_id_and_fresh_signatures(
    issuer: FakeIssuer,
) -> None:
    event_id = _enqueue(issuer)
    send = Recorder(500, ConnectionError("connection refused"), 503, 200)
    assert outbox.deliver_due(issuer, transport=send) == 1
    row = _row(issuer, event_id)
    assert (row.state, row.attempts, row.last_status) == ("PENDING", 1, 500)
    assert row.next_attempt_at == int(START.timestamp()) + 15

    issuer.advance(14)
    assert outbox.deliver_due(issuer, transport=send) == 0  # not yet due
    issuer.advance(1)
    assert outbox.deliver_due(issuer, transport=send) == 1
    row = _row(issuer, event_id)
    assert row.last_status is None
    assert row.last_error == "ConnectionError: connection refused"
    assert row.next_attempt_at == int(START.timestamp()) + 30  # second step: 15 s

    issuer.advance(15)
    assert outbox.deliver_due(issuer, transport=send) == 1
    assert _row(issuer, event_id).next_attempt_at == int(START.timestamp()) + 60  # then 30 s
    issuer.advance(30)
    assert outbox.deliver_due(issuer, transport=send) == 1
    assert _row(issuer, event_id).state == "DELIVERED"

    # Every attempt: same envelope id, a new nonce, and all pass one replay store.
    store = InMemoryNonceStore()
    notes = [_open(issuer, h, b, store) for _, h, b, _ in send.calls]
    assert {n.id for n in notes} == {event_id}
    assert len({h["Paylater-Nonce"] for _, h, _, _ in send.calls}) == 4
    with pytest.raises(ReplayError):
        _open(issuer, send.calls[0][1], send.calls[0][2], store)


def test_gives_up_after_the_last_step_and_keeps_the_log(issuer: FakeIssuer) -> None:
    event_id = _enqueue(issuer)
    send = Recorder(*([500] * 10))
    for step in (0, 15, 15, 30):
        issuer.advance(step)
        assert outbox.deliver_due(issuer, transport=send) == 1
    row = _row(issuer, event_id)
    assert (row.state, row.attempts, row.next_attempt_at) == ("FAILED", 4, None)
    issuer.advance(10**6)
    assert outbox.deliver_due(issuer, transport=send) == 0
    assert len(send.calls) == 4  # 1 + len(schedule)
    with issuer.engine.connect() as conn:
        [entry] = outbox.delivery_log(conn)
    assert entry["state"] == "FAILED"
    assert [a["outcome"] for a in entry["attempts"]] == ["REJECTED"] * 4
    assert [a["number"] for a in entry["attempts"]] == [1, 2, 3, 4]


def test_redeliver_starts_a_fresh_round_of_retries(issuer: FakeIssuer) -> None:
    event_id = _enqueue(issuer)
    send = Recorder(*([500] * 10))
    for step in (0, 15, 15, 30):
        issuer.advance(step)
        outbox.deliver_due(issuer, transport=send)
    assert _row(issuer, event_id).state == "FAILED"
    with issuer.engine.begin() as conn:
        assert outbox.redeliver(conn, event_id, now=issuer.now())
        assert not outbox.redeliver(conn, "evt_unknown", now=issuer.now())
    assert outbox.deliver_due(issuer, transport=send) == 1
    row = _row(issuer, event_id)
    assert (row.state, row.attempts) == ("PENDING", 5)
    assert row.next_attempt_at == int(issuer.now().timestamp()) + 15  # the first step again
    with issuer.engine.connect() as conn:
        [entry] = outbox.delivery_log(conn)
    assert [a["number"] for a in entry["attempts"]] == [1, 2, 3, 4, 5]


def test_redirects_are_not_acknowledgements(issuer: FakeIssuer) -> None:
    event_id = _enqueue(issuer)
    outbox.deliver_due(issuer, transport=Recorder(302))
    row = _row(issuer, event_id)
    assert (row.state, row.last_status, row.last_error) == ("PENDING", 302, "HTTP 302")


def test_the_schedule_and_transport_come_from_the_issuer_config(issuer: FakeIssuer) -> None:
    send = Recorder(500, 200)
    issuer.config = FakeConfig(notify_schedule=(2,), notify_transport=send)
    event_id = _enqueue(issuer)
    assert outbox.deliver_due(issuer) == 1
    assert _row(issuer, event_id).next_attempt_at == int(START.timestamp()) + 2
    issuer.advance(2)
    assert outbox.deliver_due(issuer) == 1
    assert _row(issuer, event_id).state == "DELIVERED"
    assert len(send.calls) == 2


def test_deliveries_go_out_in_the_order_they_fell_due(issuer: FakeIssuer) -> None:
    first = _enqueue(issuer, resource={"id": "co_a"})
    issuer.advance(1)
    second = _enqueue(issuer, resource={"id": "co_b"})
    send = Recorder()
    assert outbox.deliver_due(issuer, transport=send, per_merchant=1) == 2
    assert [_open(issuer, h, b).id for _, h, b, _ in send.calls] == [first, second]


def test_events_of_the_same_second_go_out_in_enqueue_order(issuer: FakeIssuer) -> None:
    ids = [_enqueue(issuer, resource={"id": f"co_{n}"}) for n in range(6)]
    send = Recorder()
    assert outbox.deliver_due(issuer, transport=send, per_merchant=1) == 6
    assert [_open(issuer, h, b).id for _, h, b, _ in send.calls] == ids
    with issuer.engine.connect() as conn:
        assert [e["id"] for e in outbox.delivery_log(conn)] == ids[::-1]


def test_limit_bounds_one_pass(issuer: FakeIssuer) -> None:
    for n in range(3):
        _enqueue(issuer, resource={"id": f"co_{n}"})
    send = Recorder()
    assert outbox.deliver_due(issuer, transport=send, limit=2) == 2
    assert outbox.deliver_due(issuer, transport=send, limit=2) == 1


# --- faults ----------------------------------------------------------------------------


def test_a_dropped_notification_counts_as_failed_and_is_retried(issuer: FakeIssuer) -> None:
    event_id = _enqueue(issuer)
    issuer.faults.append("drop_notification")
    send = Recorder()
    assert outbox.deliver_due(issuer, transport=send) == 1
    assert send.calls == []
    row = _row(issuer, event_id)
    assert (row.state, row.attempts, row.last_error) == ("PENDING", 1, "dropped by a test fault")
    issuer.advance(15)
    assert outbox.deliver_due(issuer, transport=send) == 1
    assert _row(issuer, event_id).state == "DELIVERED"
    with issuer.engine.connect() as conn:
        [entry] = outbox.delivery_log(conn)
    assert [a["outcome"] for a in entry["attempts"]] == ["DROPPED", "DELIVERED"]


def test_a_duplicated_notification_is_sent_twice_with_one_id(issuer: FakeIssuer) -> None:
    event_id = _enqueue(issuer)
    issuer.faults.append("duplicate_notification")
    send = Recorder()
    outbox.deliver_due(issuer, transport=send)
    assert len(send.calls) == 2
    # One read of the merchant serves the prefix re-check and both copies' sealing.
    assert issuer.merchant_reads == 1
    store = InMemoryNonceStore()
    notes = [_open(issuer, h, b, store) for _, h, b, _ in send.calls]  # both verify
    assert [n.id for n in notes] == [event_id, event_id]
    with issuer.engine.connect() as conn:
        [entry] = outbox.delivery_log(conn)
    assert entry["attempts"][0]["duplicated"] is True
    assert entry["state"] == "DELIVERED"


def test_faults_of_other_kinds_are_not_consumed(issuer: FakeIssuer) -> None:
    issuer.faults.append("error_500")
    _enqueue(issuer)
    outbox.deliver_due(issuer, transport=Recorder())
    assert issuer.faults == ["error_500"]


def test_a_sealing_failure_is_logged_and_retried(issuer: FakeIssuer) -> None:
    event_id = _enqueue(issuer)
    issuer.api_key_error = LookupError("merchant m1 has no API key")
    send = Recorder()
    outbox.deliver_due(issuer, transport=send)
    assert send.calls == []
    row = _row(issuer, event_id)
    assert row.state == "PENDING"
    assert row.last_error.startswith("cannot seal: LookupError")
    issuer.api_key_error = None
    issuer.advance(15)
    outbox.deliver_due(issuer, transport=send)
    assert _row(issuer, event_id).state == "DELIVERED"


# --- the notify URL is re-checked before every attempt ------------------------------------


@pytest.mark.parametrize(
    ("prefix", "url"),
    [
        ("http://127.0.0.1:2008", "http://127.0.0.1:20081/notify"),  # another port
        ("https://shop.example", "https://shop.example.attacker.tld/notify"),  # another host
        ("https://shop.example/paylater", "https://shop.example/paylater-evil/notify"),
        ("https://shop.example/", "http://shop.example/notify"),  # another scheme
        ("https://shop.example/", "https://user@shop.example/notify"),  # credentials
    ],
)
def test_a_url_that_only_starts_like_a_prefix_is_blocked(
    issuer: FakeIssuer, prefix: str, url: str
) -> None:
    issuer.prefixes["m1"] = [prefix]
    event_id = _enqueue(issuer, notify_url=url)
    send = Recorder()
    assert outbox.deliver_due(issuer, transport=send) == 1
    assert send.calls == []
    row = _row(issuer, event_id)
    assert (row.state, row.next_attempt_at) == ("FAILED", None)
    assert row.last_error == "notify_url is no longer under a registered prefix"
    with issuer.engine.connect() as conn:
        [entry] = outbox.delivery_log(conn)
    assert [a["outcome"] for a in entry["attempts"]] == ["BLOCKED"]


@pytest.mark.parametrize(
    ("prefix", "url"),
    [
        ("http://127.0.0.1:2008", "http://127.0.0.1:2008/notify"),
        ("https://shop.example", "https://shop.example/notify"),
        ("https://shop.example/paylater", "https://shop.example/paylater/notify"),
        ("https://Shop.Example:443/", "https://shop.example/notify"),  # default port, case
    ],
)
def test_a_url_under_a_prefix_is_sent(issuer: FakeIssuer, prefix: str, url: str) -> None:
    issuer.prefixes["m1"] = ["https://elsewhere.example/", prefix]
    event_id = _enqueue(issuer, notify_url=url)
    send = Recorder()
    assert outbox.deliver_due(issuer, transport=send) == 1
    assert [call[0] for call in send.calls] == [url]
    assert _row(issuer, event_id).state == "DELIVERED"


def test_an_unknown_merchant_vouches_for_no_url(issuer: FakeIssuer) -> None:
    event_id = _enqueue(issuer, merchant_id="m_gone")
    send = Recorder()
    assert outbox.deliver_due(issuer, transport=send) == 1
    assert send.calls == []
    assert _row(issuer, event_id).state == "FAILED"


def test_the_api_key_never_reaches_the_log(issuer: FakeIssuer) -> None:
    _enqueue(issuer)
    outbox.deliver_due(issuer, transport=Recorder(ConnectionError("boom"), 500))
    with issuer.engine.connect() as conn:
        text = json.dumps(outbox.delivery_log(conn))
    assert API_KEY.decode() not in text
    assert "co_1" not in text  # nor the resource


# --- concurrency and restarts ----------------------------------------------------------


def test_concurrent_passes_attempt_each_notification_once(issuer: FakeIssuer) -> None:
    ids = {_enqueue(issuer, resource={"id": f"co_{n}"}) for n in range(12)}
    send = Recorder()
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def run() -> None:
        barrier.wait()
        counts.append(outbox.deliver_due(issuer, transport=send))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 12
    assert sorted(_open(issuer, h, b).id for _, h, b, _ in send.calls) == sorted(ids)


def test_a_claim_whose_worker_died_is_retried_after_the_lease(issuer: FakeIssuer) -> None:
    event_id = _enqueue(issuer)
    # A worker claims the notification, then the process dies before sending.
    [claimed] = notify_delivery.claim(
        issuer.engine, int(START.timestamp()), slots=5, per_merchant=2
    )
    assert (claimed["id"], claimed["attempts"]) == (event_id, 0)
    send = Recorder()
    assert outbox.deliver_due(issuer, transport=send) == 0
    issuer.advance(notify_delivery.LEASE_SECONDS - 1)
    assert outbox.deliver_due(issuer, transport=send) == 0  # the lease still holds
    issuer.advance(1)
    assert outbox.deliver_due(issuer, transport=send) == 1
    assert _row(issuer, event_id).state == "DELIVERED"


def test_pending_deliveries_survive_a_restart(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    first = make_engine(url)
    metadata.create_all(first)
    event_id = _enqueue(FakeIssuer(first))
    first.dispose()  # the process stops before delivering
    restarted = FakeIssuer(make_engine(url))
    send = Recorder()
    assert outbox.deliver_due(restarted, transport=send) == 1
    assert _row(restarted, event_id).state == "DELIVERED"
    restarted.engine.dispose()


# --- the worker ------------------------------------------------------------------------


def test_the_worker_delivers_in_the_background_and_stops(issuer: FakeIssuer) -> None:
    delivered = threading.Event()
    send = Recorder()

    def transport(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        status = send(url, headers, body, timeout)
        delivered.set()
        return status

    worker = outbox.DeliveryWorker(issuer, interval=0.05, transport=transport)
    assert not worker.running
    worker.start()
    worker.start()  # idempotent: still one thread
    event_id = _enqueue(issuer)
    assert delivered.wait(10)
    worker.stop()
    assert not worker.running
    worker.stop()  # idempotent
    assert _row(issuer, event_id).state == "DELIVERED"
    assert len(send.calls) == 1
    assert "running=False" in repr(worker)
    assert "per_merchant=2" in repr(worker)


class FlakyClockIssuer(FakeIssuer):
    """Its clock raises once, as a database hiccup in the middle of a claim would."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.fail_next = False
        self.calls = 0

    def now(self) -> datetime:
        self.calls += 1
        if self.fail_next:
            self.fail_next = False
            raise sa.exc.OperationalError("SELECT", {}, Exception("database is locked"))
        return super().now()


def test_the_worker_survives_a_failing_claim(engine: Engine) -> None:
    issuer = FlakyClockIssuer(engine)
    event_id = _enqueue(issuer)
    issuer.fail_next = True  # the worker's first claim fails
    delivered = threading.Event()

    def transport(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        delivered.set()
        return 200

    worker = outbox.DeliveryWorker(issuer, interval=0.01, transport=transport)
    worker.start()
    try:
        assert delivered.wait(10)
    finally:
        worker.stop()
    assert not issuer.fail_next
    assert issuer.calls >= 3  # the enqueue, the failed claim, the next claim
    assert _row(issuer, event_id).state == "DELIVERED"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": 0}, "interval"),
        ({"interval": -1}, "interval"),
        ({"per_merchant": 0}, "per_merchant"),
        ({"max_in_flight": 0}, "max_in_flight"),
    ],
)
def test_the_worker_refuses_bad_bounds(
    issuer: FakeIssuer, kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        outbox.DeliveryWorker(issuer, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"per_merchant": 0}, "per_merchant"),
        ({"max_in_flight": -1}, "max"),
    ],
)
def test_a_pass_refuses_bad_bounds(
    issuer: FakeIssuer, kwargs: dict[str, int], message: str
) -> None:
    _enqueue(issuer)
    send = Recorder()
    with pytest.raises(ValueError, match=message):
        outbox.deliver_due(issuer, transport=send, **kwargs)  # type: ignore[arg-type]
    assert send.calls == []


# --- the delivery log ------------------------------------------------------------------


def test_delivery_log_is_newest_first_and_filters(issuer: FakeIssuer) -> None:
    older = _enqueue(issuer)
    issuer.advance(5)
    newer = _enqueue(issuer, merchant_id="m2", event_type="ORDER.CAPTURED")
    with issuer.engine.connect() as conn:
        log = outbox.delivery_log(conn)
        assert [e["id"] for e in log] == [newer, older]
        assert log[0]["event_type"] == "ORDER.CAPTURED"
        assert log[0]["attempts"] == []
        assert log[0]["next_attempt_at"] == (START + timedelta(seconds=5)).isoformat()
        assert "resource" not in log[0]
        assert [e["id"] for e in outbox.delivery_log(conn, merchant_id="m1")] == [older]
        assert [e["id"] for e in outbox.delivery_log(conn, limit=1)] == [newer]
        assert [e["id"] for e in outbox.delivery_log(conn, event_id=older)] == [older]
        assert outbox.delivery_log(conn, state="DELIVERED") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"state": "SENT"}, "state")],
)
def test_delivery_log_refuses_bad_arguments(
    issuer: FakeIssuer, kwargs: dict[str, Any], message: str
) -> None:
    with issuer.engine.connect() as conn, pytest.raises(ValueError, match=message):
        outbox.delivery_log(conn, **kwargs)


# --- with the real issuer (create_app) -------------------------------------------------


@pytest.fixture
def real_app(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Makes the real issuer's app (at most one per test); its engine is disposed after."""
    made: list[Any] = []

    def make(transport: Any, **config: Any) -> Any:
        made.append(_real_app(tmp_path, transport, **config))
        return made[-1]

    yield make
    from paylater_sdk.issuer import get_issuer, stop_background

    for app in made:
        stop_background(app)
        get_issuer(app).engine.dispose()


def _real_app(tmp_path: Path, transport: Any, **config: Any) -> Any:
    from paylater_sdk.issuer import create_app
    from paylater_sdk.signing import public_key_pem

    settings: dict[str, Any] = {
        "TEST_MODE": True,
        "DATABASE_URL": database_url(tmp_path),
        "NOTIFY_TRANSPORT": transport,
        "NOTIFY_SCHEDULE": [60, 60],
        "MERCHANTS": [
            {
                "id": "m1",
                "name": "Shop",
                "public_keys": [public_key_pem(generate_private_key()).decode()],
                "api_key": API_KEY.decode(),
                "notify_prefixes": ["https://shop.example/"],
                "return_prefixes": ["https://shop.example/"],
            }
        ],
    }
    settings.update(config)
    return create_app(settings)


def _authorized_checkout(app: Any) -> str:
    from paylater_sdk.issuer import get_issuer
    from paylater_sdk.money import Money

    issuer = get_issuer(app)
    checkout = issuer.orders.create_checkout(
        "m1",
        out_trade_no="A1",
        amount=Money.from_minor(300_00, "CNY"),
        description="Tea",
        notify_url=URL,
        return_url="https://shop.example/back",
        plan_ids=None,
        expires_in=None,
        base_url="http://issuer.test",
    )
    buyer = issuer.create_buyer(limit=Money.from_minor(5000_00, "CNY"))
    plan_id = checkout["plans"][0]["plan_id"]
    issuer.orders.authorize(checkout["id"], buyer_id=buyer.id, plan_id=plan_id)
    checkout_id: str = checkout["id"]
    return checkout_id


def _open_real(app: Any, headers: dict[str, str], body: bytes, store: Any = None) -> Any:
    from paylater_sdk.issuer import get_issuer

    return open_notification(
        headers,
        body,
        api_key=API_KEY,
        keyring=get_issuer(app).signing_keyring(),
        nonce_store=InMemoryNonceStore() if store is None else store,
    )


def test_the_issuer_delivers_the_authorized_checkout(real_app: Callable[..., Any]) -> None:
    from paylater_sdk.issuer import get_issuer

    send = Recorder()
    app = real_app(send)
    checkout_id = _authorized_checkout(app)
    assert get_issuer(app).deliver_pending() == 1
    [(url, headers, body, _)] = send.calls
    assert url == URL
    note = _open_real(app, headers, body)
    assert note.event_type == "CHECKOUT.AUTHORIZED"
    assert note.original_type == "checkout"
    assert note.resource["id"] == checkout_id
    assert note.resource["state"] == "AUTHORIZED"
    assert note.resource["order"]["state"] == "AUTHORIZED"
    assert get_issuer(app).deliver_pending() == 0


def test_injected_faults_drop_then_duplicate(real_app: Callable[..., Any]) -> None:
    from paylater_sdk.issuer import get_issuer

    send = Recorder()
    app = real_app(send)
    issuer = get_issuer(app)
    issuer.inject_fault("drop_notification", path_prefix="/paylater/")
    issuer.inject_fault("duplicate_notification", method="POST")
    _authorized_checkout(app)
    assert issuer.deliver_pending() == 1  # dropped: nothing sent
    assert send.calls == []
    issuer.advance_clock(60)
    assert issuer.deliver_pending() == 1  # duplicated: sent twice
    store = InMemoryNonceStore()
    notes = [_open_real(app, h, b, store) for _, h, b, _ in send.calls]
    assert len(notes) == 2
    assert notes[0].id == notes[1].id
    with issuer.engine.connect() as conn:
        [entry] = outbox.delivery_log(conn)
    assert entry["state"] == "DELIVERED"
    assert [a["outcome"] for a in entry["attempts"]] == ["DROPPED", "DELIVERED"]


def test_a_url_outside_the_merchants_current_prefixes_is_never_called(
    real_app: Callable[..., Any],
) -> None:
    from paylater_sdk.issuer import get_issuer
    from paylater_sdk.signing import public_key_pem

    send = Recorder()
    app = real_app(send)
    _authorized_checkout(app)
    issuer = get_issuer(app)
    issuer.add_merchant(  # the merchant moves its endpoint to another host
        "m1",
        name="Shop",
        public_keys=[public_key_pem(generate_private_key()).decode()],
        api_key=API_KEY.decode(),
        notify_prefixes=["https://new.shop.example/"],
        return_prefixes=["https://shop.example/"],
    )
    assert issuer.deliver_pending() == 1
    assert send.calls == []
    with issuer.engine.connect() as conn:
        [entry] = outbox.delivery_log(conn)
    assert entry["state"] == "FAILED"
    assert [a["outcome"] for a in entry["attempts"]] == ["BLOCKED"]
    issuer.advance_clock(3600)  # no retry: a blocked notification has given up
    assert issuer.deliver_pending() == 0


def test_a_fault_for_another_path_is_left_alone(real_app: Callable[..., Any]) -> None:
    from paylater_sdk.issuer import get_issuer

    send = Recorder()
    app = real_app(send)
    get_issuer(app).inject_fault("drop_notification", path_prefix="/other/")
    _authorized_checkout(app)
    get_issuer(app).deliver_pending()
    assert len(send.calls) == 1


def test_the_apps_worker_delivers_without_being_asked(real_app: Callable[..., Any]) -> None:
    from paylater_sdk.issuer import get_issuer, stop_background

    arrived = threading.Event()

    def transport(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        arrived.set()
        return 200

    app = real_app(transport, NOTIFY_WORKER=True)
    worker = app.extensions["paylater_delivery_worker"]
    try:
        assert worker.running
        _authorized_checkout(app)
        assert arrived.wait(15)
    finally:
        stop_background(app)
    assert not worker.running
    assert not app.extensions["paylater_sweeper"].running
    with get_issuer(app).engine.connect() as conn:
        [entry] = outbox.delivery_log(conn)
    assert entry["attempt_count"] == 1


class _Merchant(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []  # noqa: RUF012
    status = 200

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Merchant.received.append((dict(self.headers.items()), self.rfile.read(length)))
        self.send_response(self.status)
        if self.status in (301, 302):
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("status", [200, 302])
def test_the_default_transport_posts_over_http_and_never_follows_redirects(status: int) -> None:
    _Merchant.received = []
    _Merchant.status = status
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Merchant)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/notify"
        got = outbox.requests_transport(url, {"Content-Type": "application/json"}, b"{}", 5.0)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert got == status
    [(headers, body)] = _Merchant.received
    assert body == b"{}"
    assert headers["Content-Type"] == "application/json"


def test_the_default_transport_raises_when_nobody_listens() -> None:
    import requests

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Merchant)
    port = server.server_address[1]
    server.server_close()  # the port is now closed
    with pytest.raises(requests.ConnectionError):
        outbox.requests_transport(f"http://127.0.0.1:{port}/n", {}, b"{}", 5.0)


class _KeepAliveMerchant(BaseHTTPRequestHandler):
    """An HTTP/1.1 notify endpoint that keeps connections open and tries to set a cookie."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[int, str | None]]] = []  # (client port, Cookie header) each

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        _KeepAliveMerchant.seen.append((self.client_address[1], self.headers.get("Cookie")))
        self.send_response(200)
        self.send_header("Set-Cookie", "session=abc; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_default_transport_reuses_its_connection_and_keeps_no_cookie() -> None:
    _KeepAliveMerchant.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveMerchant)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/notify"
    try:
        statuses = [outbox.requests_transport(url, {}, b"{}", 5.0) for _ in range(3)]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert statuses == [200, 200, 200]
    ports = {port for port, _ in _KeepAliveMerchant.seen}
    assert len(_KeepAliveMerchant.seen) == 3
    assert len(ports) == 1  # one kept-alive connection for the three notifications
    assert [cookie for _, cookie in _KeepAliveMerchant.seen] == [None, None, None]
