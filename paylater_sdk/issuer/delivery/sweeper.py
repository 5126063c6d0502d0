"""A background thread that applies expiries, servicing and overdue status without waiting
for a request, so a served issuer sends ``CHECKOUT.EXPIRED`` and ``ORDER.EXPIRED`` on time
even when no merchant calls in, and posts penalty, reminds buyers of due installments,
freezes late buyers and writes off orders by the business clock (``Issuer.sweep``, see
``issuer/domain/servicing_sweep.py``). In-process tests do not need it: every request (and
every clock advance) sweeps first."""

from __future__ import annotations

from typing import Protocol

from .worker import PeriodicWorker

__all__ = ["Sweeper"]


class _Sweepable(Protocol):
    def housekeeping(self) -> None: ...


class Sweeper(PeriodicWorker):
    """Calls ``issuer.housekeeping()`` (clock, expiries, servicing, old nonces) every ``interval``
    seconds until :meth:`stop`."""

    name = "paylater-issuer-sweeper"

    def __init__(self, issuer: _Sweepable, *, interval: float = 1.0) -> None:
        super().__init__(interval=interval)
        self._issuer = issuer

    def tick(self) -> None:
        self._issuer.housekeeping()
