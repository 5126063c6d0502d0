"""One delivery attempt: re-check the URL, seal the envelope, send it, record the outcome.

The attempt starts once a worker has claimed it (:mod:`.notify_delivery` owns claiming
and concurrency). Every attempt seals the envelope anew (fresh signature timestamp and
nonce) with the same envelope id, and is recorded with a compare-and-set on the attempt
number, so a worker whose lease expired cannot overwrite the outcome of a newer attempt.
The issuer's clock drives every due time; signature timestamps use the wall clock (see
:func:`_seal`).
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
import math
import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..._sessions import EnvironmentSession
from ...signing import ResponseSigner, seal_notification
from ..config import WECHAT_NOTIFY_SCHEDULE
from ..domain.urls import url_allowed
from ..storage.prepared import setting
from ..storage.schema import from_epoch, to_epoch
from . import wechat
from .store import DELIVERED, FAILED, notification_attempts, notifications

__all__ = [
    "DEFAULT_NOTIFY_SCHEDULE",
    "DEFAULT_NOTIFY_TIMEOUT",
    "DeliveryIssuer",
    "NotifyTransport",
    "attempt",
    "requests_transport",
]

# One logger for all of delivery, under the name it always had (operators filter on it).
log = logging.getLogger("paylater_sdk.issuer.delivery.sender")

#: Seconds to wait after the 1st, 2nd, ... failed attempt (WeChat Pay v3's schedule).
DEFAULT_NOTIFY_SCHEDULE = WECHAT_NOTIFY_SCHEDULE
#: Seconds a merchant gets to answer one delivery attempt.
DEFAULT_NOTIFY_TIMEOUT = 5.0
_MAX_ERROR_CHARS = 300

FAULT_DROP = "drop_notification"
FAULT_DUPLICATE = "duplicate_notification"
_FAULT_KINDS = frozenset({FAULT_DROP, FAULT_DUPLICATE})


class NotifyTransport(Protocol):
    """Sends one sealed notification; returns the HTTP status, raises on network failure."""

    def __call__(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> int: ...


class MerchantRecord(Protocol):
    """The part of a merchant's row delivery reads (once per attempt): its notify prefixes,
    as stored (JSON), and the API key its notifications are encrypted to."""

    @property
    def notify_prefixes(self) -> str: ...

    @property
    def api_key(self) -> str: ...


class DeliveryConfig(Protocol):
    """The settings delivery reads (:class:`~paylater_sdk.issuer.config.IssuerConfig`)."""

    @property
    def notify_schedule(self) -> Sequence[int]: ...

    @property
    def notify_transport(self) -> NotifyTransport | None: ...


class DeliveryIssuer(Protocol):
    """What delivery needs from :class:`paylater_sdk.issuer.Issuer`, and nothing more."""

    @property
    def engine(self) -> Engine: ...

    @property
    def config(self) -> DeliveryConfig: ...

    def now(self) -> datetime: ...

    def response_signer(self) -> ResponseSigner: ...

    def merchant(self, merchant_id: str) -> MerchantRecord | None: ...

    def take_fault(self, kind_set: Collection[str], method: str, path: str) -> str | None: ...


def requests_transport(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
    """The default transport: one POST with ``requests``, never following redirects.

    Redirects are not followed so that a merchant's notify URL can never bounce the issuer
    to a host outside the merchant's registered prefixes. Each delivery thread keeps one
    ``requests.Session``, so notifications to the same merchant reuse a kept-alive
    connection instead of opening (and handshaking) a new one per attempt; the session
    keeps no cookies, so one notification never carries what an earlier answer set, and
    reads the proxy environment once per host and never ``~/.netrc`` (see
    :mod:`paylater_sdk._sessions`).
    """
    response = _session().post(
        url, data=body, headers=headers, timeout=timeout, allow_redirects=False
    )
    return int(response.status_code)


_local = threading.local()


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = EnvironmentSession()
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        _local.session = session
    return session


def schedule_of(
    issuer: DeliveryIssuer, schedule: Sequence[int | float] | None
) -> tuple[float, ...]:
    """The back-off steps: ``schedule`` if given, else the issuer's ``NOTIFY_SCHEDULE``."""
    steps = tuple(
        float(s) for s in (issuer.config.notify_schedule if schedule is None else schedule)
    )
    if any(step < 0 for step in steps):
        raise ValueError("NOTIFY_SCHEDULE steps must be >= 0 seconds")
    return steps


def transport_of(issuer: DeliveryIssuer, transport: NotifyTransport | None) -> NotifyTransport:
    """``transport`` if given, else the issuer's ``NOTIFY_TRANSPORT``, else HTTP."""
    if transport is not None:
        return transport
    return issuer.config.notify_transport or requests_transport


def _url_still_allowed(merchant: MerchantRecord, url: str) -> bool:
    """Re-check the notify URL against the merchant's prefixes as registered *now*.

    Checkouts are validated when created, but a merchant's prefixes can be narrowed later
    (``paylater issuer add-merchant`` updates them); the issuer must then stop calling
    the old host rather than keep POSTing to a URL nobody vouches for any more (an
    unknown merchant vouches for nothing: the caller blocks it before asking).
    """
    try:
        prefixes = json.loads(merchant.notify_prefixes)
    except (TypeError, ValueError):
        return False
    return url_allowed(url, prefixes)


def _short_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def _seal(
    issuer: DeliveryIssuer, row: Mapping[str, Any], merchant: MerchantRecord
) -> tuple[dict[str, str], bytes]:
    v3 = wechat.seal(issuer.engine, row)  # a WeChat Pay v3 callback: v3's envelope and keys
    if v3 is not None:
        return v3
    event = {
        "id": row["id"],
        "event_type": row["event_type"],
        "original_type": row["original_type"],
        "summary": row["summary"],
        "resource": json.loads(row["resource"]),
        "create_time": from_epoch(row["created_at"]),
    }
    api_key = merchant.api_key.encode()  # the row this attempt read (see attempt())
    # The signature's timestamp is wall time (the default), never the test clock: the
    # merchant checks it against its own clock, which knows nothing of test time.
    headers, body = seal_notification(event, api_key, issuer.response_signer())
    headers = dict(headers)
    headers["Content-Type"] = "application/json"
    headers.setdefault("User-Agent", "paylater-issuer-notify/1")
    return headers, body


def _send_once(
    issuer: DeliveryIssuer,
    row: Mapping[str, Any],
    merchant: MerchantRecord,
    send: NotifyTransport,
    timeout: float,
) -> tuple[str, int | None, str | None]:
    try:
        headers, body = _seal(issuer, row, merchant)
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


def attempt(
    issuer: DeliveryIssuer,
    row: Mapping[str, Any],
    send: NotifyTransport,
    steps: tuple[float, ...],
    timeout: float,
) -> None:
    """Make the attempt claimed on ``row`` (its values as read *before* the claim)."""
    number = int(row["attempts"]) + 1
    # Read once: the prefixes re-checked here and the API key the body is sealed to.
    merchant = issuer.merchant(row["merchant_id"])
    if merchant is None or not _url_still_allowed(merchant, row["notify_url"]):
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
        outcome, status, error = _send_once(issuer, row, merchant, send, timeout)
        if fault == FAULT_DUPLICATE:
            duplicated = True
            # The copy is sealed anew with the same id, as a real duplicate delivery would be.
            second = _send_once(issuer, row, merchant, send, timeout)
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


_INSERT_ATTEMPT = notification_attempts.insert()  # built once (storage/prepared.py)


#: The attempt-guarded notification UPDATE; :func:`setting` adds the columns it sets.
_OUTCOME = notifications.update().where(
    notifications.c.id == sa.bindparam("event_id"),
    notifications.c.attempts == sa.bindparam("number"),
)


def _record(
    issuer: DeliveryIssuer,
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
            _INSERT_ATTEMPT,
            {
                "notification_id": event_id,
                "number": number,
                "attempted_at": at,
                "outcome": outcome,
                "status_code": status,
                "error": error,
                "duplicated": duplicated,
            },
        )
        conn.execute(
            setting(_OUTCOME, tuple(sorted(values))),
            {"event_id": event_id, "number": number, **values},
        )
