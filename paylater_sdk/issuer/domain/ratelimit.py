"""Fixed-window rate limits kept in the database, so every issuer process counts alike.

Used for the eligibility preview: without a limit, a merchant could bisect on ``amount``
(about 44 calls) and learn a buyer's exact available balance. Each window is one row per
scope; a hit is one guarded ``UPDATE ... SET hits = hits + 1 WHERE hits < :max`` (the
database decides, so concurrent requests in several processes never exceed the limit),
and the first hit of a window inserts the row (a concurrent first insert loses on the
primary key and counts again as an update).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ...errors import RateLimitError
from ..storage.schema import rate_counters

__all__ = ["RateLimitedError", "hit", "purge"]


class RateLimitedError(RateLimitError):
    """Too many requests in the window; ``retry_after`` seconds until the next one."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, code="RATE_LIMITED")
        self.retry_after = retry_after


#: Built once (see :mod:`..storage.prepared`): every rate-limited request runs it.
_COUNT = (
    rate_counters.update()
    .where(
        rate_counters.c.scope == sa.bindparam("in_scope"),
        rate_counters.c.window_start == sa.bindparam("in_window"),
        rate_counters.c.hits < sa.bindparam("maximum"),
    )
    .values(hits=rate_counters.c.hits + 1)
)


def _count(conn: sa.Connection, scope: str, window: int, maximum: int) -> bool:
    done = conn.execute(_COUNT, {"in_scope": scope, "in_window": window, "maximum": maximum})
    return done.rowcount == 1


def _first(conn: sa.Connection, scope: str, window: int) -> bool:
    exists = conn.execute(
        sa.select(rate_counters.c.hits).where(
            rate_counters.c.scope == scope, rate_counters.c.window_start == window
        )
    ).first()
    if exists is not None:
        return False
    try:
        with conn.begin_nested():
            conn.execute(rate_counters.insert().values(scope=scope, window_start=window, hits=1))
    except IntegrityError:
        return False
    return True


def hit(engine: Engine, scope: str, limit: tuple[int, int], now: int, what: str) -> None:
    """Count one request of ``scope``; raise :class:`RateLimitedError` past ``limit``.

    ``limit`` is ``(requests, seconds)``; ``now`` is epoch seconds (business time, so a
    test clock advance also opens the next window).
    """
    maximum, seconds = limit
    window = now - now % seconds
    with engine.begin() as conn:
        if _count(conn, scope, window, maximum) or _first(conn, scope, window):
            return
        if _count(conn, scope, window, maximum):  # lost the first insert to a neighbour
            return
    raise RateLimitedError(
        f"too many {what}: at most {maximum} every {seconds} s; retry later",
        retry_after=max(1, window + seconds - now),
    )


def purge(engine: Engine, now: int, keep: int = 86_400) -> None:
    """Forget windows that ended more than ``keep`` seconds ago."""
    with engine.begin() as conn:
        conn.execute(rate_counters.delete().where(rate_counters.c.window_start < now - keep))
