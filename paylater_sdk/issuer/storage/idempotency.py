"""Idempotency keys: a retried POST returns the stored answer instead of acting twice.

The stored answer commits in the *same transaction* as the effect it describes, so there
is no moment at which one exists without the other: a process killed at any point leaves
either nothing (the retry runs the request again) or the effect with its answer (the retry
gets that answer, byte for byte). No claim row outlives a crashed request, so a retry never
waits for a lease to expire.

How a request with a key runs (see :func:`transaction`):

1. before the work, the key is looked up: a stored answer is replayed (same status and
   body, ``Idempotent-Replayed: true``), and the same key with another request is 422;
2. the effect's transaction first takes the key's lock (a PostgreSQL advisory lock; on
   SQLite the write transaction already excludes every other writer) and looks again:
   a duplicate running at this moment answers 409 ``IDEMPOTENCY_IN_PROGRESS`` (retryable,
   ``Retry-After: 1``), one that finished meanwhile is replayed;
3. the answer is inserted just before that transaction commits.

Answers without an effect (a 4xx refusal, an eligibility preview) are stored on their own
afterwards; if a concurrent duplicate stored first, its answer is the one returned. 5xx
answers, 409 ``IDEMPOTENCY_IN_PROGRESS`` and 429 are never stored: a retry runs again.

The fingerprint covers method, path and the *parsed* body (keys sorted), so a client that
re-serialises the same JSON differently is still recognised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ...errors import ConflictError, IdempotencyError
from .locking import try_lock_name
from .quickread import QuickRead
from .schema import idempotency_keys, to_epoch

__all__ = [
    "CURRENT",
    "IdempotentCall",
    "Replay",
    "StoredResponse",
    "Transaction",
    "encode",
    "fingerprint",
    "lookup",
    "storable",
    "store_answer",
    "transaction",
]

_DONE = "DONE"
_T = TypeVar("_T")


@attrs.frozen
class StoredResponse:
    status: int
    body: bytes


@attrs.define
class IdempotentCall:
    """The request being served under an ``Idempotency-Key`` (set by the web layer)."""

    merchant_id: str
    key: str
    fingerprint: str
    status: int  # the status of a successful answer
    now: datetime
    answered: StoredResponse | None = None  # stored with the effect


#: The call in progress in this thread or task, if any (None outside keyed requests).
CURRENT: ContextVar[IdempotentCall | None] = ContextVar("paylater_idempotent_call", default=None)


class Replay(Exception):  # noqa: N818 - control flow, not an error
    """A duplicate finished first: answer with its stored response instead."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("replay the stored answer")
        self.stored = stored


@attrs.define
class Transaction:
    """A write transaction whose successful result is the keyed request's answer."""

    conn: sa.Connection
    result: Any = None

    def done(self, result: _T) -> _T:
        """Record ``result`` as the answer (stored before commit) and return it."""
        self.result = result
        return result


def encode(obj: Any) -> bytes:
    """The JSON bytes of an answer, exactly as the API sends them."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


def storable(status: int, code: str | None) -> bool:
    """Whether an answer is final (a retry must get it) or transient (a retry runs again)."""
    return status < 500 and status != 429 and code != "IDEMPOTENCY_IN_PROGRESS"


#: Built once (see ``storage/prepared.py``): every keyed POST runs the lookup twice (before
#: the work, then under the key's lock) and the insert once.
_SELECT = sa.select(idempotency_keys).where(
    idempotency_keys.c.merchant_id == sa.bindparam("merchant_id"),
    idempotency_keys.c.key == sa.bindparam("key"),
)
_DELETE = idempotency_keys.delete().where(
    idempotency_keys.c.merchant_id == sa.bindparam("merchant_id"),
    idempotency_keys.c.key == sa.bindparam("key"),
)
_INSERT = idempotency_keys.insert()
#: The lookup before the work: one statement, so a quick read (see :mod:`.quickread`).
_LOOKUP = QuickRead(_SELECT)


def _select(conn: sa.Connection, merchant_id: str, key: str) -> Any:
    return conn.execute(_SELECT, {"merchant_id": merchant_id, "key": key}).first()


def _stored(row: Any, fp: str) -> StoredResponse | None:
    if row is None or row.status != _DONE:
        return None  # none yet (a version-1 claim row is no answer either)
    if row.fingerprint != fp:
        raise IdempotencyError(
            "this Idempotency-Key was already used with a different request; "
            "use a new key for a new request",
            code="IDEMPOTENCY_KEY_REUSED",
        )
    return StoredResponse(status=row.response_status, body=row.response_body)


def lookup(engine: Engine, *, merchant_id: str, key: str, fp: str) -> StoredResponse | None:
    """The stored answer for this key, if the request already ran (422 for another one)."""
    found = _LOOKUP.rows(engine, merchant_id=merchant_id, key=key)
    return _stored(found[0] if found else None, fp)


def _in_progress() -> ConflictError:
    return ConflictError(
        "a request with this Idempotency-Key is still being processed; retry shortly",
        code="IDEMPOTENCY_IN_PROGRESS",
    )


def _guard(conn: sa.Connection, call: IdempotentCall) -> None:
    if not try_lock_name(conn, f"paylater-issuer:idempotency:{call.merchant_id}:{call.key}"):
        raise _in_progress()
    row = _select(conn, call.merchant_id, call.key)
    stored = _stored(row, call.fingerprint)
    if stored is not None:
        raise Replay(stored)
    if row is not None:  # a claim left by a version-1 issuer: it never finished
        conn.execute(_DELETE, {"merchant_id": call.merchant_id, "key": call.key})


def _insert(conn: sa.Connection, call: IdempotentCall, answer: StoredResponse) -> None:
    conn.execute(
        _INSERT,
        {
            "merchant_id": call.merchant_id,
            "key": call.key,
            "fingerprint": call.fingerprint,
            "status": _DONE,
            "response_status": answer.status,
            "response_body": answer.body,
            "created_at": to_epoch(call.now),
        },
    )


@contextmanager
def transaction(engine: Engine) -> Iterator[Transaction]:
    """A write transaction; under a keyed request, its result commits as the answer."""
    call = CURRENT.get()
    with engine.begin() as conn:
        tx = Transaction(conn)
        keyed = call is not None and call.answered is None
        if call is not None and keyed:
            _guard(conn, call)
        yield tx
        if call is not None and keyed and tx.result is not None:
            answer = StoredResponse(call.status, encode(tx.result))
            _insert(conn, call, answer)
            call.answered = answer


def store_answer(engine: Engine, call: IdempotentCall, answer: StoredResponse) -> StoredResponse:
    """Store an answer that has no effect to commit with; the first stored answer wins."""
    try:
        with engine.begin() as conn:
            _insert(conn, call, answer)
    except IntegrityError:
        stored = lookup(engine, merchant_id=call.merchant_id, key=call.key, fp=call.fingerprint)
        if stored is not None:
            return stored
        raise
    return answer
