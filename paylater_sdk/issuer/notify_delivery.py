"""Sending what the outbox holds: sealing, the transport, back-off, and the worker thread.

Each attempt is claimed with a compare-and-set on the attempt counter before it is sent,
so several workers (threads or processes) never send the same attempt, and a worker that
dies mid-attempt leaves only a lease that expires. The issuer's clock drives every due
time; signature timestamps use the wall clock (see :func:`_seal`).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..notifications import seal_notification
from ..signing import ResponseSigner
from .db import from_epoch, to_epoch
from .notify_store import DELIVERED, FAILED, PENDING, notification_attempts, notifications

__all__ = [
    "DEFAULT_NOTIFY_SCHEDULE",
    "DEFAULT_NOTIFY_TIMEOUT",
    "DeliveryWorker",
    "NotifyTransport",
    "deliver_due",
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


# --- the background worker -------------------------------------------------------------


class DeliveryWorker:
    """A daemon thread that calls :func:`deliver_due` every ``interval`` seconds.

    Pending deliveries live in the database, so stopping the worker (or the process) loses
    nothing; the next worker picks them up. Expiries are applied by the issuer's own
    sweeper thread (``paylater_sdk.issuer.sweeper``), so a slow merchant endpoint here never
    delays an ``ORDER.EXPIRED``.
    """

    def __init__(
        self,
        issuer: _Issuer,
        *,
        interval: float = 0.5,
        deliver: Callable[[_Issuer], int] = deliver_due,
    ) -> None:
        if interval <= 0:
            raise ValueError("the delivery worker's interval must be > 0")
        self._issuer = issuer
        self._interval = interval
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

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._deliver(self._issuer)
            except Exception:  # a database hiccup must not kill the worker
                log.exception("notification delivery pass failed; retrying")
            elapsed = time.monotonic() - started
            self._stop.wait(max(0.0, self._interval - elapsed))
