"""Idempotency keys: a retried POST returns the stored response instead of acting twice.

The key row is claimed (``IN_PROGRESS``) in its own short transaction before the work
starts, so a concurrent duplicate sees it and answers 409 ``IDEMPOTENCY_IN_PROGRESS``
instead of racing. The fingerprint covers method, path and the *parsed* body (keys
sorted), so a client that re-serialises the same JSON differently is still recognised.
A claim whose request died without finishing is reclaimed after ``STALE_AFTER`` seconds.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..errors import ConflictError, IdempotencyError
from .db import idempotency_keys, to_epoch

__all__ = ["STALE_AFTER", "StoredResponse", "abandon", "claim", "fingerprint", "finish"]

STALE_AFTER = 60


@attrs.frozen
class StoredResponse:
    status: int
    body: bytes


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


def claim(
    engine: Engine, *, merchant_id: str, key: str, fp: str, now: datetime
) -> StoredResponse | None:
    """Claim ``key`` for this request; return the stored response if it already ran.

    Raises :class:`IdempotencyError` (422) for the same key with another request and
    :class:`ConflictError` (409, retryable) while the first request is still running.
    """
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(idempotency_keys).where(
                idempotency_keys.c.merchant_id == merchant_id, idempotency_keys.c.key == key
            )
        ).first()
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        idempotency_keys.insert().values(
                            merchant_id=merchant_id,
                            key=key,
                            fingerprint=fp,
                            status="IN_PROGRESS",
                            created_at=to_epoch(now),
                        )
                    )
            except IntegrityError:
                raise _in_progress() from None
            return None
        if row.fingerprint != fp:
            raise IdempotencyError(
                "this Idempotency-Key was already used with a different request; "
                "use a new key for a new request",
                http_status=422,
                code="IDEMPOTENCY_KEY_REUSED",
            )
        if row.status == "DONE":
            return StoredResponse(status=row.response_status, body=row.response_body)
        if row.created_at > to_epoch(now) - STALE_AFTER:
            raise _in_progress()
        conn.execute(
            idempotency_keys.update()
            .where(idempotency_keys.c.merchant_id == merchant_id, idempotency_keys.c.key == key)
            .values(created_at=to_epoch(now))
        )
        return None


def _in_progress() -> ConflictError:
    return ConflictError(
        "a request with this Idempotency-Key is still being processed; retry shortly",
        http_status=409,
        code="IDEMPOTENCY_IN_PROGRESS",
    )


def finish(engine: Engine, *, merchant_id: str, key: str, status: int, body: bytes) -> None:
    with engine.begin() as conn:
        conn.execute(
            idempotency_keys.update()
            .where(idempotency_keys.c.merchant_id == merchant_id, idempotency_keys.c.key == key)
            .values(status="DONE", response_status=status, response_body=body)
        )


def abandon(engine: Engine, *, merchant_id: str, key: str) -> None:
    """Forget a claim whose request failed with a 5xx, so that a retry runs it again."""
    with engine.begin() as conn:
        conn.execute(
            idempotency_keys.delete().where(
                idempotency_keys.c.merchant_id == merchant_id, idempotency_keys.c.key == key
            )
        )
