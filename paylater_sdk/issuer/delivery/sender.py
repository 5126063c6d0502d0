"""Delivering what the outbox holds: claiming, concurrency, and the worker thread.

A worker claims due notifications and runs each attempt (:mod:`.notify_attempt`) on a
bounded thread pool: at most ``per_merchant`` attempts in flight to one merchant and
``max_in_flight`` in all. A merchant whose slots are full is left out of the next claim,
so its slow endpoint only ever occupies its own slots and never delays another
merchant's notifications by more than one poll. Within a merchant, attempts start in the
order they fell due (``next_attempt_at``, then enqueue order ``seq``); with a bound of
``n``, at most ``n`` run side by side, so a later one may finish first.

Claiming is one transaction per batch: the due rows are selected ``FOR UPDATE SKIP
LOCKED`` (PostgreSQL; SQLite ignores it, its ``BEGIN IMMEDIATE`` write lock serialises
claims) and each is taken with a compare-and-set on its attempt counter whose row count
is checked, which also moves ``next_attempt_at`` a lease ahead. So several workers, in
threads or in separate issuer processes, never send the same attempt and do not queue
up behind each other's rows; a worker that dies after claiming leaves only a lease that
expires, after which the notification is due again (at least once, never lost). An
attempt is claimed only when a slot is free for it, right before it is sent, so the
lease never runs out while it waits in a queue.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..storage.quickread import QuickRead
from ..storage.schema import log_failure, to_epoch
from .attempt import (
    DEFAULT_NOTIFY_SCHEDULE,
    DEFAULT_NOTIFY_TIMEOUT,
    DeliveryIssuer,
    NotifyTransport,
    attempt,
    requests_transport,
    schedule_of,
    transport_of,
)
from .store import PENDING, notifications
from .worker import PeriodicWorker

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_NOTIFY_SCHEDULE",
    "DEFAULT_NOTIFY_TIMEOUT",
    "DEFAULT_PER_MERCHANT",
    "DeliveryIssuer",
    "DeliveryWorker",
    "NotifyTransport",
    "claim",
    "deliver_due",
    "requests_transport",
]

log = logging.getLogger(__name__)

#: Attempts one worker has in flight to one merchant at most.
DEFAULT_PER_MERCHANT = 2
#: Attempts one worker has in flight in all at most (the size of its thread pool).
DEFAULT_MAX_IN_FLIGHT = 16
#: A claimed delivery whose worker died is retried after this many seconds.
LEASE_SECONDS = 120
_BATCH = 50
#: While attempts are in flight, a pass looks for newly due notifications this often.
_POLL_SECONDS = 0.25


def _check_bounds(per_merchant: int, max_in_flight: int) -> None:
    if per_merchant < 1:
        raise ValueError("per_merchant must be >= 1")
    if max_in_flight < 1:
        raise ValueError("max_in_flight must be >= 1")


def claim(
    engine: Engine,
    now: int,
    *,
    slots: int,
    per_merchant: int,
    busy: Mapping[str, int] | None = None,
    skip: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Claim up to ``slots`` notifications due at ``now`` (epoch seconds), oldest first.

    ``busy`` counts the attempts the caller already has in flight per merchant; no
    merchant gets more than ``per_merchant`` in all, and merchants already at the bound
    are left out of the query, so the others' rows are found behind theirs. ``skip``
    leaves out ids (a pass attempts each notification once). Returns the claimed rows as
    they were *before* the claim (``attempts`` is the count of earlier attempts).
    """
    if not _ANY_DUE.rows(engine, now=now):
        return []  # the usual answer between bursts: no write transaction for it
    taken = Counter({m: n for m, n in (busy or {}).items() if n > 0})
    claimed: list[dict[str, Any]] = []
    with engine.begin() as conn:
        while len(claimed) < slots:
            # Merchants at their bound are left out, so the query finds the others' rows
            # behind theirs; rows claimed here are no longer due, so they drop out too.
            full = [m for m, n in taken.items() if n >= per_merchant]
            # At most two merchants' worth per query: rows of a merchant at its bound are
            # fetched for nothing, and the loop asks again while it makes progress.
            rows = _due(conn, now, min(slots - len(claimed), 2 * per_merchant), full, skip)
            before = len(claimed)
            for row in rows:
                if taken[row.merchant_id] >= per_merchant or len(claimed) == slots:
                    continue  # locked until this transaction ends, then free for others
                if _take(conn, row, now):
                    claimed.append(dict(row._mapping))
                    taken[row.merchant_id] += 1
            if len(claimed) == before:
                break
    return claimed


#: Whether any notification is due at all: the worker asks after every finished attempt
#: and every poll, and a claim is a write transaction (SQLite's write lock, PostgreSQL's
#: row locks) even when it finds nothing. A quick read (see :mod:`..storage.quickread`)
#: answers "none" without one; a row that comes due just after is found by the next pass,
#: as it would be had the claim itself run a moment earlier.
_ANY_DUE = QuickRead(
    sa.select(notifications.c.id)
    .where(
        notifications.c.state == PENDING,
        notifications.c.next_attempt_at <= sa.bindparam("now"),
    )
    .limit(1)
)


@functools.cache
def _due_statement(*, leave_merchants: bool, leave_ids: bool) -> sa.Select[Any]:
    """The due rows, oldest first, locked ``FOR UPDATE SKIP LOCKED`` (PostgreSQL); built
    once per shape (see :mod:`..storage.prepared`), the lists bound as parameters."""
    query = (
        sa.select(notifications)
        .where(
            notifications.c.state == PENDING,
            notifications.c.next_attempt_at <= sa.bindparam("now"),
        )
        .order_by(notifications.c.next_attempt_at, notifications.c.seq)
        .limit(sa.bindparam("n"))
        .with_for_update(skip_locked=True)
    )
    if leave_merchants:
        query = query.where(
            notifications.c.merchant_id.not_in(sa.bindparam("full", expanding=True))
        )
    if leave_ids:
        query = query.where(notifications.c.id.not_in(sa.bindparam("skip", expanding=True)))
    return query


def _due(
    conn: sa.Connection, now: int, limit: int, full: Collection[str], skip: Collection[str]
) -> list[sa.Row[Any]]:
    statement = _due_statement(leave_merchants=bool(full), leave_ids=bool(skip))
    params = {"now": now, "n": limit, "full": list(full), "skip": list(skip)}
    return list(conn.execute(statement, params).all())


_TAKE = (
    notifications.update()
    .where(
        notifications.c.id == sa.bindparam("event_id"),
        notifications.c.state == PENDING,
        notifications.c.attempts == sa.bindparam("seen_attempts"),
        notifications.c.next_attempt_at <= sa.bindparam("now"),
    )
    .values(attempts=sa.bindparam("new_attempts"), next_attempt_at=sa.bindparam("lease_end"))
)


def _take(conn: sa.Connection, row: sa.Row[Any], now: int) -> bool:
    """The compare-and-set on the attempt counter; True when this caller got the attempt."""
    result = conn.execute(
        _TAKE,
        {
            "event_id": row.id,
            "seen_attempts": row.attempts,
            "now": now,
            "new_attempts": row.attempts + 1,
            "lease_end": now + LEASE_SECONDS,
        },
    )
    return result.rowcount == 1


class _Dispatcher:
    """Claims notifications into free slots and runs their attempts on ``pool``."""

    def __init__(
        self,
        issuer: DeliveryIssuer,
        pool: Executor,
        *,
        send: NotifyTransport,
        steps: tuple[float, ...],
        timeout: float,
        per_merchant: int,
        max_in_flight: int,
    ) -> None:
        self._issuer = issuer
        self._pool = pool
        self._send = send
        self._steps = steps
        self._timeout = timeout
        self._per_merchant = per_merchant
        self._max_in_flight = max_in_flight
        self._changed = threading.Condition()
        self._busy: Counter[str] = Counter()
        #: Attempts finished (a counter that only grows: waiters compare against it).
        self.finished = 0
        #: Attempts claimed and started since this dispatcher was made.
        self.started = 0

    @property
    def in_flight(self) -> int:
        with self._changed:
            return sum(self._busy.values())

    def fill(self, *, budget: int | None = None, skip: set[str] | None = None) -> int:
        """Claim attempts into the free slots (at most ``budget``) and start them."""
        with self._changed:
            busy = Counter(self._busy)
        slots = self._max_in_flight - sum(busy.values())
        if budget is not None:
            slots = min(slots, budget)
        if slots <= 0:
            return 0
        rows = claim(
            self._issuer.engine,
            to_epoch(self._issuer.now()),
            slots=slots,
            per_merchant=self._per_merchant,
            busy=busy,
            skip=() if skip is None else skip,
        )
        for row in rows:
            if skip is not None:
                skip.add(row["id"])
            with self._changed:
                self._busy[row["merchant_id"]] += 1
            self._pool.submit(self._run, row)
        self.started += len(rows)
        return len(rows)

    def wait(self, finished: int, timeout: float) -> None:
        """Wait until an attempt finishes after the count ``finished``, or ``timeout``."""
        with self._changed:
            self._changed.wait_for(lambda: self.finished != finished, timeout)

    def _run(self, row: Mapping[str, Any]) -> None:
        try:
            attempt(self._issuer, row, self._send, self._steps, self._timeout)
        except Exception:  # a database hiccup while recording: the lease brings it back
            log.exception("notification %s: attempt failed; due again after the lease", row["id"])
        finally:
            with self._changed:
                self._busy[row["merchant_id"]] -= 1
                if self._busy[row["merchant_id"]] <= 0:
                    del self._busy[row["merchant_id"]]
                self.finished += 1
                self._changed.notify_all()


def deliver_due(
    issuer: DeliveryIssuer,
    *,
    transport: NotifyTransport | None = None,
    schedule: Sequence[int | float] | None = None,
    timeout: float | None = None,
    limit: int = _BATCH,
    per_merchant: int = 1,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
) -> int:
    """Attempt what is due by the issuer's clock, concurrently; return the attempts made.

    One pass: at most ``limit`` attempts, each notification at most once, up to
    ``per_merchant`` at a time to one merchant and ``max_in_flight`` in all; returns when
    every attempt it started has finished and recorded its outcome. Safe to call from
    several threads or processes at once (see the module docstring).

    A pass by hand (``Issuer.deliver_pending()``, the testing kit) sends one at a time per
    merchant by default, so each merchant receives its notifications exactly in the order
    they fell due, as tests expect; merchants are still served side by side. The
    background :class:`DeliveryWorker` allows :data:`DEFAULT_PER_MERCHANT`.
    """
    if limit < 1:
        raise ValueError("limit must be >= 1")
    _check_bounds(per_merchant, max_in_flight)
    send = transport_of(issuer, transport)
    steps = schedule_of(issuer, schedule)
    wait_for = DEFAULT_NOTIFY_TIMEOUT if timeout is None else timeout
    workers = min(max_in_flight, limit)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="paylater-notify") as pool:
        dispatcher = _Dispatcher(
            issuer,
            pool,
            send=send,
            steps=steps,
            timeout=wait_for,
            per_merchant=per_merchant,
            max_in_flight=workers,
        )
        attempted: set[str] = set()
        while True:
            mark, busy = dispatcher.finished, dispatcher.in_flight
            claimed = dispatcher.fill(budget=limit - dispatcher.started, skip=attempted)
            # Done only when nothing was in flight *before* this claim found nothing: an
            # attempt finishing meanwhile frees a slot the claim did not see.
            if not claimed and not busy:
                break
            dispatcher.wait(mark, _POLL_SECONDS)
    return dispatcher.started


class DeliveryWorker(PeriodicWorker):
    """A daemon thread that keeps a bounded pool of delivery attempts going.

    It claims due notifications into free slots (see the module docstring), then waits
    until an attempt finishes or ``interval`` seconds pass, and claims again. Pending
    deliveries live in the database, so stopping the worker (or the process) loses
    nothing; the next worker picks them up. Expiries are applied by the issuer's own
    sweeper thread (``paylater_sdk.issuer.delivery.sweeper``), so a slow merchant endpoint
    here never delays an ``ORDER.EXPIRED``.
    """

    name = "paylater-notify-worker"

    def __init__(
        self,
        issuer: DeliveryIssuer,
        *,
        interval: float = 0.5,
        transport: NotifyTransport | None = None,
        timeout: float = DEFAULT_NOTIFY_TIMEOUT,
        per_merchant: int = DEFAULT_PER_MERCHANT,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        if interval <= 0:
            raise ValueError("the delivery worker's interval must be > 0")
        _check_bounds(per_merchant, max_in_flight)
        super().__init__(interval=interval)
        self._issuer = issuer
        self._transport = transport
        self._timeout = timeout
        self._per_merchant = per_merchant
        self._max_in_flight = max_in_flight

    def __repr__(self) -> str:
        return (
            f"DeliveryWorker(interval={self._interval}, per_merchant={self._per_merchant}, "
            f"max_in_flight={self._max_in_flight}, running={self.running})"
        )

    def loop(self) -> None:
        """Claim into free slots, wait for a finished attempt or the interval, repeat."""
        with ThreadPoolExecutor(
            max_workers=self._max_in_flight, thread_name_prefix="paylater-notify"
        ) as pool:
            dispatcher = _Dispatcher(
                self._issuer,
                pool,
                send=transport_of(self._issuer, self._transport),
                steps=schedule_of(self._issuer, None),
                timeout=self._timeout,
                per_merchant=self._per_merchant,
                max_in_flight=self._max_in_flight,
            )
            while not self.stopping:
                mark = dispatcher.finished
                try:
                    dispatcher.fill()
                except Exception as exc:  # a database hiccup must not kill the worker
                    log_failure(log, "claiming notifications failed; retrying", exc)
                dispatcher.wait(mark, self._interval)
