"""The issuer's business clock: wall time plus an offset that test mode can move forward.

Like Stripe's test clocks, advancing it makes checkouts and authorizations expire and
installments fall due without waiting. It only drives *business* time. Signature
timestamps (requests, responses, notifications) always use the real wall clock, because
the merchant's own clock signs and checks them and knows nothing of the test clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["Clock"]


def _wall() -> datetime:
    return datetime.now(UTC)


class Clock:
    """Thread-safe ``now()`` = wall time + offset, truncated to whole seconds.

    Whole seconds because everything is stored as epoch seconds, and a value read back
    from the database must compare equal to the one that was written.
    """

    def __init__(self, offset_seconds: int = 0, *, wall: Callable[[], datetime] = _wall) -> None:
        self._lock = threading.Lock()
        self._offset = offset_seconds
        self._wall = wall

    @property
    def offset(self) -> int:
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset
        return (self._wall() + timedelta(seconds=offset)).replace(microsecond=0)

    def advance(self, seconds: int) -> datetime:
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise ValueError("the clock only moves forward by a whole number of seconds")
        with self._lock:
            self._offset += seconds
        return self.now()

    def set_offset(self, seconds: int) -> None:
        """Adopt an offset decided elsewhere (the database, shared by every process)."""
        with self._lock:
            self._offset = seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0
