"""A background thread that applies expiries and overdue status without waiting for a
request, so a served issuer sends ``CHECKOUT.EXPIRED`` and ``ORDER.EXPIRED`` on time
even when no merchant calls in. In-process tests do not need it: every request (and
every clock advance) sweeps first."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from ..storage.schema import log_failure

__all__ = ["Sweeper"]

log = logging.getLogger(__name__)


class _Sweepable(Protocol):
    def housekeeping(self) -> None: ...


class Sweeper:
    """Calls ``issuer.housekeeping()`` (clock, expiries, old nonces) every ``interval``
    seconds until :meth:`stop`."""

    def __init__(self, issuer: _Sweepable, *, interval: float = 1.0) -> None:
        self._issuer = issuer
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="paylater-issuer-sweeper", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._issuer.housekeeping()
            except Exception as exc:  # keep sweeping; one failed pass is retried next interval
                log_failure(log, "expiry sweep failed", exc)
