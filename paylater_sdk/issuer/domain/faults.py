"""Injected test faults: armed in the database, so every issuer process sees them.

A fault (``error_500``, ``timeout``, ``drop_notification``, ``duplicate_notification``)
applies to the next ``count`` requests or deliveries that match its method and path
prefix, oldest first. Each is consumed with a guarded decrement (``remaining > 0``, row
count checked), so two processes never both take the last one. A live-mode issuer has
none and asks nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...lifecycle import FaultKind
from ..storage.quickread import QuickRead
from ..storage.schema import faults

__all__ = ["FAULT_KINDS", "Faults", "fault_matches"]

FAULT_KINDS: tuple[str, ...] = tuple(kind.value for kind in FaultKind)


def fault_matches(
    method_filter: str | None, path_prefix: str | None, method: str, path: str
) -> bool:
    """Whether a fault armed for ``method_filter`` / ``path_prefix`` hits this request.

    The one rule, shared by the issuer and the testing kit's wire faults.
    """
    if method_filter and method_filter.upper() != method.upper():
        return False
    return not (path_prefix and not path.startswith(path_prefix))


# Built once (see :mod:`..storage.prepared`): test mode asks before every delivery.
_ARMED = sa.select(faults).where(faults.c.remaining > 0).order_by(faults.c.id)
_TAKE_ONE = (
    faults.update()
    .where(faults.c.id == sa.bindparam("fault_id"), faults.c.remaining > 0)
    .values(remaining=faults.c.remaining - 1)
)
_DROP_SPENT = faults.delete().where(faults.c.remaining <= 0)
_ARMED_NOW = QuickRead(_ARMED)


class Faults:
    """Arm and consume faults of one issuer (``enabled`` in test mode only)."""

    def __init__(self, engine: Engine, *, enabled: bool) -> None:
        self._engine = engine
        self._enabled = enabled

    def inject(
        self,
        kind: str,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        count: int = 1,
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
            raise ValueError("count must be an integer from 1 to 1000")
        with self._engine.begin() as conn:
            conn.execute(
                faults.insert().values(
                    kind=kind,
                    method=method.upper() if method else None,
                    path_prefix=path_prefix,
                    remaining=count,
                )
            )

    def take(self, kind_set: Collection[str], method: str, path: str) -> str | None:
        """Consume one matching fault (oldest first) and return its kind, or None."""
        if not self._enabled:
            return None
        # Most deliveries and requests meet no fault: one quick read (no transaction, no
        # write lock) says so.
        if not _hits(_ARMED_NOW.rows(self._engine), kind_set, method, path):
            return None
        with self._engine.begin() as conn:
            for row in _hits(conn.execute(_ARMED).all(), kind_set, method, path):
                if conn.execute(_TAKE_ONE, {"fault_id": row.id}).rowcount == 1:
                    conn.execute(_DROP_SPENT)
                    kind: str = row.kind
                    return kind
        return None


def _hits(rows: Iterable[Any], kind_set: Collection[str], method: str, path: str) -> list[Any]:
    """The armed faults that would hit this request or delivery, oldest first."""
    return [
        row
        for row in rows
        if row.kind in kind_set and fault_matches(row.method, row.path_prefix, method, path)
    ]
