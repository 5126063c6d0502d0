"""The notification outbox: merchants hear about state changes at least once.

A state change and the notification announcing it are written in the *same* database
transaction (:func:`enqueue` takes the caller's connection), so the issuer can never
authorize a checkout and forget to tell the merchant, nor announce a change that was rolled
back. Delivery happens later, outside any transaction, from rows that live in the database:
a restart loses nothing, it only delays the next attempt.

Each attempt seals the envelope anew (fresh signature timestamp and nonce, so the
merchant's replay protection never rejects a genuine retry) but keeps the envelope ``id``,
which is what merchants deduplicate on. A 2xx answer acknowledges; anything else, a
connection error or a timeout schedules the next attempt after the back-off schedule
(WeChat Pay's 15s, 15s, 30s, 3m, 10m, ... by default). After the last step the
notification is marked ``FAILED`` and stays in the delivery log.

Every "now" comes from the issuer's clock, so the test clock (``/_test/clock/advance``)
also makes retries due: a test compresses hours of back-off into one call.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..notifications import seal_notification
from ..signing import ResponseSigner
from .db import from_epoch, metadata, to_epoch

__all__ = [
    "DEFAULT_NOTIFY_SCHEDULE",
    "DEFAULT_NOTIFY_TIMEOUT",
    "NOTIFICATION_STATES",
    "DeliveryWorker",
    "NotifyTransport",
    "deliver_due",
    "delivery_log",
    "enqueue",
    "notification_attempts",
    "notifications",
    "redeliver",
    "requests_transport",
]

log = logging.getLogger(__name__)

#: Seconds to wait after the 1st, 2nd, ... failed attempt (WeChat Pay v3's schedule).
DEFAULT_NOTIFY_SCHEDULE: tuple[int, ...] = (
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
)  # fmt: skip
#: Seconds a merchant gets to answer one delivery attempt.
DEFAULT_NOTIFY_TIMEOUT = 5.0
#: A claimed delivery whose worker died is retried after this many seconds.
_LEASE_SECONDS = 120
_BATCH = 50
_MAX_ERROR_CHARS = 300

PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"
NOTIFICATION_STATES = (PENDING, DELIVERED, FAILED)

FAULT_DROP = "drop_notification"
FAULT_DUPLICATE = "duplicate_notification"
_FAULT_KINDS = frozenset({FAULT_DROP, FAULT_DUPLICATE})


class NotifyTransport(Protocol):
    """Sends one sealed notification; returns the HTTP status, raises on network failure."""

    def __call__(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> int: ...


class _Issuer(Protocol):
    """What the outbox needs from :class:`paylater_sdk.issuer.Issuer` (and test doubles)."""

    @property
    def engine(self) -> Engine: ...

    def now(self) -> datetime: ...

    def response_signer(self) -> ResponseSigner: ...

    def merchant_api_key(self, merchant_id: str) -> bytes: ...

    def take_fault(self, kind_set: Collection[str], method: str, path: str) -> str | None: ...


notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("merchant_id", sa.String(64), nullable=False, index=True),
    sa.Column("notify_url", sa.Text, nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("original_type", sa.String(32), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("resource", sa.Text, nullable=False),  # the JSON of the resource, unencrypted
    # times are epoch seconds (UTC), as everywhere in the issuer's schema
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    # attempts made before the current round of retries (an operator's redeliver starts one)
    sa.Column("round_start", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # Wall-clock nanoseconds at enqueue: orders events of the same second (FIFO delivery).
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=True),
    sa.Column("delivered_at", sa.BigInteger, nullable=True),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ix_notifications_due", "state", "next_attempt_at"),
)

notification_attempts = sa.Table(
    "notification_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("notification_id", sa.String(64), sa.ForeignKey("notifications.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("attempted_at", sa.BigInteger, nullable=False),
    # DELIVERED (2xx), REJECTED (other status), ERROR (no answer), DROPPED (test fault),
    # BLOCKED (the URL is no longer under a registered prefix: not sent, given up)
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("duplicated", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_notification_attempts_notification", "notification_id"),
)


# --- enqueue (inside the caller's transaction) -----------------------------------------


def enqueue(
    conn: Connection,
    *,
    merchant_id: str,
    notify_url: str,
    event_type: str,
    original_type: str,
    resource: Mapping[str, Any],
    summary: str,
    now: datetime,
) -> str:
    """Record a notification, due at once, in the caller's transaction; return its id.

    The resource is stored as plain JSON and sealed only when sent, because every attempt
    needs a fresh signature and the merchant's API key may be rotated meanwhile.
    """
    if not merchant_id or not event_type:
        raise ValueError("enqueue needs a merchant_id and an event_type")
    scheme = urlsplit(notify_url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"notify_url must be an http(s) URL, got scheme {scheme!r}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (use Issuer.now())")
    event_id = "evt_" + secrets.token_hex(12)
    conn.execute(
        notifications.insert().values(
            id=event_id,
            merchant_id=merchant_id,
            notify_url=notify_url,
            event_type=event_type,
            original_type=original_type,
            summary=summary,
            resource=json.dumps(dict(resource), ensure_ascii=False, separators=(",", ":")),
            state=PENDING,
            attempts=0,
            round_start=0,
            created_at=to_epoch(now),
            seq=time.time_ns(),
            next_attempt_at=to_epoch(now),
        )
    )
    return event_id


# --- delivery -------------------------------------------------------------------------


def requests_transport(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
    """The default transport: one POST with ``requests``, never following redirects.

    Redirects are not followed so that a merchant's notify URL can never bounce the issuer
    to a host outside the merchant's registered prefixes.
    """
    import requests

    response = requests.post(
        url, data=body, headers=headers, timeout=timeout, allow_redirects=False
    )
    return int(response.status_code)


def _setting(issuer: _Issuer, name: str) -> Any:
    """A setting from the issuer's config: an attrs ``IssuerConfig`` or a plain mapping."""
    config = getattr(issuer, "config", None)
    if isinstance(config, Mapping):
        return config.get(name.upper())
    return getattr(config, name, None)


def _schedule(issuer: _Issuer, schedule: Sequence[int | float] | None) -> tuple[float, ...]:
    if schedule is None:
        schedule = _setting(issuer, "notify_schedule")
    if schedule is None:
        schedule = DEFAULT_NOTIFY_SCHEDULE
    steps = tuple(float(step) for step in schedule)
    if any(step < 0 for step in steps):
        raise ValueError("NOTIFY_SCHEDULE steps must be >= 0 seconds")
    return steps


def _transport(issuer: _Issuer, transport: NotifyTransport | None) -> NotifyTransport:
    if transport is not None:
        return transport
    configured = _setting(issuer, "notify_transport")
    return configured if callable(configured) else requests_transport


def _url_still_allowed(issuer: _Issuer, merchant_id: str, url: str) -> bool:
    """Re-check the notify URL against the merchant's prefixes as registered *now*.

    Checkouts are validated when created, but a merchant's prefixes can be narrowed later
    (``paylater issuer add-merchant`` updates them); the issuer must then stop calling
    the old host rather than keep POSTing to a URL nobody vouches for any more.
    """
    lookup = getattr(issuer, "merchant", None)
    if not callable(lookup):
        return True  # an issuer without a merchant registry (tests' doubles)
    row = lookup(merchant_id)
    raw = getattr(row, "notify_prefixes", None) if row is not None else None
    prefixes = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(prefixes, list):
        return False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        return False
    return any(isinstance(p, str) and p and url.startswith(p) for p in prefixes)


def _short_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def deliver_due(
    issuer: _Issuer,
    *,
    transport: NotifyTransport | None = None,
    schedule: Sequence[int | float] | None = None,
    timeout: float | None = None,
    limit: int = _BATCH,
) -> int:
    """Attempt every notification that is due by the issuer's clock; return the attempts made.

    Safe to call from several threads or processes at once: each notification is claimed
    with a compare-and-set on its attempt counter before it is sent, so exactly one caller
    attempts it. A caller that dies after claiming leaves a lease that expires, after which
    the notification is due again (at least once, never lost).
    """
    send = _transport(issuer, transport)
    steps = _schedule(issuer, schedule)
    if timeout is None:
        timeout = float(_setting(issuer, "notify_timeout") or DEFAULT_NOTIFY_TIMEOUT)
    now = to_epoch(issuer.now())
    with issuer.engine.connect() as conn:
        due = conn.execute(
            sa.select(notifications)
            .where(notifications.c.state == PENDING, notifications.c.next_attempt_at <= now)
            .order_by(notifications.c.next_attempt_at, notifications.c.seq)
            .limit(limit)
        ).all()
    made = 0
    for row in due:
        if _claim(issuer.engine, row.id, row.attempts, now):
            _attempt(issuer, dict(row._mapping), send, steps, timeout)
            made += 1
    return made


def _claim(engine: Engine, event_id: str, attempts: int, now: int) -> bool:
    with engine.begin() as conn:
        result = conn.execute(
            notifications.update()
            .where(
                notifications.c.id == event_id,
                notifications.c.state == PENDING,
                notifications.c.attempts == attempts,
                notifications.c.next_attempt_at <= now,
            )
            .values(attempts=attempts + 1, next_attempt_at=now + _LEASE_SECONDS)
        )
        return result.rowcount == 1


def _seal(issuer: _Issuer, row: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    event = {
        "id": row["id"],
        "event_type": row["event_type"],
        "original_type": row["original_type"],
        "summary": row["summary"],
        "resource": json.loads(row["resource"]),
        "create_time": from_epoch(row["created_at"]),
    }
    api_key = issuer.merchant_api_key(row["merchant_id"])
    # The signature's timestamp is wall time (the default), never the test clock: the
    # merchant checks it against its own clock, which knows nothing of test time.
    headers, body = seal_notification(event, api_key, issuer.response_signer())
    headers = dict(headers)
    headers["Content-Type"] = "application/json"
    headers.setdefault("User-Agent", "paylater-issuer-notify/1")
    return headers, body


def _send_once(
    issuer: _Issuer, row: Mapping[str, Any], send: NotifyTransport, timeout: float
) -> tuple[str, int | None, str | None]:
    try:
        headers, body = _seal(issuer, row)
    except Exception as exc:  # a deleted merchant, a missing key: retry later, log why
        log.warning("cannot seal notification %s: %s", row["id"], type(exc).__name__)
        return "ERROR", None, f"cannot seal: {_short_error(exc)}"
    try:
        status = send(row["notify_url"], headers, body, timeout)
    except Exception as exc:  # connection refused, timeout, DNS: the merchant is unreachable
        return "ERROR", None, _short_error(exc)
    if 200 <= status < 300:
        return "DELIVERED", status, None
    return "REJECTED", status, f"HTTP {status}"


def _attempt(
    issuer: _Issuer,
    row: Mapping[str, Any],
    send: NotifyTransport,
    steps: tuple[float, ...],
    timeout: float,
) -> None:
    number = int(row["attempts"]) + 1
    if not _url_still_allowed(issuer, row["merchant_id"], row["notify_url"]):
        _record(
            issuer,
            row["id"],
            number,
            outcome="BLOCKED",
            values={
                "state": FAILED,
                "next_attempt_at": None,
                "last_status": None,
                "last_error": "notify_url is no longer under a registered prefix",
            },
        )
        log.warning("notification %s blocked: notify_url not allowed any more", row["id"])
        return
    path = urlsplit(row["notify_url"]).path or "/"
    fault = issuer.take_fault(_FAULT_KINDS, "POST", path)
    duplicated = False
    outcome: str
    status: int | None
    error: str | None
    if fault == FAULT_DROP:
        outcome, status, error = "DROPPED", None, "dropped by a test fault"
    else:
        outcome, status, error = _send_once(issuer, row, send, timeout)
        if fault == FAULT_DUPLICATE:
            duplicated = True
            # The copy is sealed anew with the same id, as a real duplicate delivery would be.
            second = _send_once(issuer, row, send, timeout)
            if outcome != "DELIVERED":
                outcome, status, error = second
    finished = to_epoch(issuer.now())
    values: dict[str, Any] = {"last_status": status, "last_error": error}
    if outcome == "DELIVERED":
        values.update(state=DELIVERED, delivered_at=finished, next_attempt_at=None)
    elif number - row["round_start"] > len(steps):
        values.update(state=FAILED, next_attempt_at=None)
        log.warning("notification %s gave up after %d attempts", row["id"], number)
    else:
        step = steps[number - row["round_start"] - 1]
        values.update(next_attempt_at=finished + math.ceil(step))
    _record(
        issuer,
        row["id"],
        number,
        outcome=outcome,
        values=values,
        status=status,
        error=error,
        duplicated=duplicated,
        at=finished,
    )


def _record(
    issuer: _Issuer,
    event_id: str,
    number: int,
    *,
    outcome: str,
    values: dict[str, Any],
    status: int | None = None,
    error: str | None = None,
    duplicated: bool = False,
    at: int | None = None,
) -> None:
    """Log one attempt and update the notification, unless another worker took it over."""
    if at is None:
        at = to_epoch(issuer.now())
    if error is None:
        error = values.get("last_error")
    with issuer.engine.begin() as conn:
        conn.execute(
            notification_attempts.insert().values(
                notification_id=event_id,
                number=number,
                attempted_at=at,
                outcome=outcome,
                status_code=status,
                error=error,
                duplicated=duplicated,
            )
        )
        conn.execute(
            notifications.update()
            .where(notifications.c.id == event_id, notifications.c.attempts == number)
            .values(**values)
        )


def redeliver(conn: Connection, event_id: str, *, now: datetime) -> bool:
    """Make a notification due again at once (an operator's "resend"); False if unknown.

    A delivered or failed notification gets a fresh round of retries; its past attempts
    stay in the log, and the envelope keeps its ``id`` so merchants still deduplicate it.
    """
    result = conn.execute(
        notifications.update()
        .where(notifications.c.id == event_id)
        .values(
            state=PENDING,
            next_attempt_at=to_epoch(now),
            round_start=notifications.c.attempts,
            last_error=None,
        )
    )
    return result.rowcount == 1


# --- the background worker -------------------------------------------------------------


class DeliveryWorker:
    """A daemon thread that calls :func:`deliver_due` every ``interval`` seconds.

    Pending deliveries live in the database, so stopping the worker (or the process) loses
    nothing; the next worker picks them up. Every ``sweep_interval`` seconds it also asks
    the issuer to apply what fell due (``Issuer.sweep()``: expiries, overdue buyers), so
    that ``ORDER.EXPIRED`` and ``CHECKOUT.EXPIRED`` go out even when no request arrives.
    """

    def __init__(
        self,
        issuer: _Issuer,
        *,
        interval: float = 0.5,
        sweep_interval: float = 5.0,
        deliver: Callable[[_Issuer], int] = deliver_due,
    ) -> None:
        if interval <= 0 or sweep_interval <= 0:
            raise ValueError("the delivery worker's interval and sweep_interval must be > 0")
        self._issuer = issuer
        self._interval = interval
        self._sweep_interval = sweep_interval
        self._deliver = deliver
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DeliveryWorker(interval={self._interval}, running={self.running})"

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Start the thread (idempotent)."""
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="paylater-notify-worker", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to finish its current attempt and wait for it (idempotent)."""
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _sweep(self) -> None:
        sweep = getattr(self._issuer, "sweep", None)
        if callable(sweep):
            sweep()

    def _run(self) -> None:
        next_sweep = time.monotonic()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if started >= next_sweep:
                    next_sweep = started + self._sweep_interval
                    self._sweep()
                self._deliver(self._issuer)
            except Exception:  # a database hiccup must not kill the worker
                log.exception("notification delivery pass failed; retrying")
            elapsed = time.monotonic() - started
            self._stop.wait(max(0.0, self._interval - elapsed))


# --- the delivery log -------------------------------------------------------------------


def _iso(value: int | None) -> str | None:
    return from_epoch(value).isoformat() if value is not None else None


def delivery_log(
    conn: Connection,
    *,
    merchant_id: str | None = None,
    limit: int = 100,
    state: str | None = None,
    event_id: str | None = None,
) -> list[dict[str, Any]]:
    """The newest notifications first, each with its attempts in order (JSON-ready dicts).

    The resource is left out: the log is for seeing *whether* merchants were told, and the
    resource can carry buyer-facing details that an operator view does not need.
    """
    if not 1 <= limit <= 1000:
        raise ValueError("limit must be between 1 and 1000")
    if state is not None and state not in NOTIFICATION_STATES:
        raise ValueError(f"state must be one of {', '.join(NOTIFICATION_STATES)}")
    query = sa.select(notifications).order_by(
        notifications.c.created_at.desc(), notifications.c.seq.desc()
    )
    if merchant_id is not None:
        query = query.where(notifications.c.merchant_id == merchant_id)
    if state is not None:
        query = query.where(notifications.c.state == state)
    if event_id is not None:
        query = query.where(notifications.c.id == event_id)
    rows = conn.execute(query.limit(limit)).all()
    attempts: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
    if rows:
        for attempt in conn.execute(
            sa.select(notification_attempts)
            .where(notification_attempts.c.notification_id.in_(list(attempts)))
            .order_by(notification_attempts.c.notification_id, notification_attempts.c.number)
        ):
            attempts[attempt.notification_id].append(
                {
                    "number": attempt.number,
                    "attempted_at": _iso(attempt.attempted_at),
                    "outcome": attempt.outcome,
                    "status_code": attempt.status_code,
                    "error": attempt.error,
                    "duplicated": bool(attempt.duplicated),
                }
            )
    return [
        {
            "id": row.id,
            "merchant_id": row.merchant_id,
            "event_type": row.event_type,
            "original_type": row.original_type,
            "summary": row.summary,
            "notify_url": row.notify_url,
            "state": row.state,
            "attempt_count": row.attempts,
            "created_at": _iso(row.created_at),
            "next_attempt_at": _iso(row.next_attempt_at) if row.state == PENDING else None,
            "delivered_at": _iso(row.delivered_at),
            "last_status": row.last_status,
            "last_error": row.last_error,
            "attempts": attempts[row.id],
        }
        for row in rows
    ]
