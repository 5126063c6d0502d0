"""One background-thread lifecycle for the issuer's periodic work.

The expiry sweeper and the notification worker both run a loop on a daemon thread until
stopped; this class owns the thread (idempotent start and stop, ``running``), so each of
them only says what one pass does. A pass that fails is logged (a database error without
its quoted values) and the loop goes on: one bad pass must not end the background work.
"""

from __future__ import annotations

import logging
import threading

from ..storage.schema import log_failure

__all__ = ["PeriodicWorker"]

log = logging.getLogger(__name__)


class PeriodicWorker:
    """Run :meth:`loop` on a daemon thread named ``name`` until :meth:`stop`."""

    name = "paylater-worker"

    def __init__(self, *, interval: float) -> None:
        if interval <= 0:
            raise ValueError("a worker's interval must be > 0 seconds")
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

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
            self._thread = threading.Thread(target=self.loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to finish and wait for it (idempotent)."""
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def loop(self) -> None:
        """The default loop: :meth:`tick` every ``interval`` seconds."""
        while not self._stop.wait(self._interval):
            self.guarded_tick()

    def guarded_tick(self) -> None:
        try:
            self.tick()
        except Exception as exc:  # retried next interval
            log_failure(log, "%s: a pass failed; the next one retries", exc, self.name)

    def tick(self) -> None:
        """One pass of the work."""
        raise NotImplementedError
