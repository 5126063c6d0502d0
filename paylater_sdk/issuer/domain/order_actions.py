"""The order book's order management: captures, voids, extensions and refunds.

A component of :class:`~.orderbook.OrderBook` (``issuer.orders``), which delegates to it,
kept apart so that each module stays about one thing: each public method is one transaction
on the order row read with a lock, its idempotent answer stored with the effect
(:mod:`..storage.idempotency`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ...errors import ConflictError, InvalidRequestError
from ...installments import PlanOffer
from ...money import Money
from ..config import IssuerConfig
from ..storage import idempotency
from ..storage.prepared import by_id
from ..storage.schema import orders, reading
from ..storage.schema import refunds as refund_rows
from . import captures, credit, lifecycle, refunds, risk
from .merchants import Prefixes
from .views import refund_json

__all__ = ["OrderActions", "OrderHost", "offer_for", "owned_row"]


class OrderHost(Protocol):
    """What the order book needs from the issuer that owns it."""

    @property
    def engine(self) -> Engine: ...

    @property
    def config(self) -> IssuerConfig: ...

    @property
    def offers(self) -> tuple[PlanOffer, ...]: ...

    def now(self) -> datetime: ...

    def sweep(self) -> None: ...

    def merchant(self, merchant_id: str) -> Any: ...

    def merchant_prefixes(self, merchant_id: str) -> Prefixes | None: ...


class OrderActions:
    """Order management (``issuer.orders``): captures, voids, extensions and refunds."""

    def __init__(self, host: OrderHost) -> None:
        self._host = host

    @property
    def engine(self) -> Engine:
        return self._host.engine

    @property
    def config(self) -> IssuerConfig:
        return self._host.config

    def now(self) -> datetime:
        return self._host.now()

    def _order_row(
        self, conn: sa.Connection, merchant_id: str | None, order_id: str, *, lock: bool = False
    ) -> Any:
        return owned_row(conn, orders, "order", merchant_id, order_id, lock=lock)

    def capture(
        self, merchant_id: str, order_id: str, amount: Money | None, *, final: bool = True
    ) -> dict[str, Any]:
        """Capture ``amount`` (default: all still held); ``final`` releases the rest."""
        with idempotency.transaction(self.engine) as tx:
            order = self._order_row(tx.conn, merchant_id, order_id, lock=True)
            offer = offer_for(self._host.offers, order.plan_id)
            now = self.now()
            answer = captures.capture_order(
                tx.conn, order, amount, offer, now, config=self.config, final=final
            )
            return tx.done(answer)

    def extend(self, merchant_id: str, order_id: str, *, days: int | None = None) -> dict[str, Any]:
        """Extend a live authorization once, up to its product's maximum."""
        with idempotency.transaction(self.engine) as tx:
            order = self._order_row(tx.conn, merchant_id, order_id, lock=True)
            maximum = self.config.max_authorization_ttl_for(order.plan_id)
            answer = captures.extend_authorization(
                tx.conn, order, self.now(), maximum=maximum, days=days
            )
            return tx.done(answer)

    def void(self, merchant_id: str, order_id: str) -> dict[str, Any]:
        with idempotency.transaction(self.engine) as tx:
            order = self._order_row(tx.conn, merchant_id, order_id, lock=True)
            return tx.done(lifecycle.void_order(tx.conn, order, self.now()))

    def create_refund(
        self,
        merchant_id: str,
        *,
        order_id: str,
        amount: Money,
        out_refund_no: str,
        reason: str | None,
        metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            with idempotency.transaction(self.engine) as tx:
                conn = tx.conn
                order = self._order_row(conn, merchant_id, order_id, lock=True)
                now = self.now()
                refund = refunds.create_refund(
                    conn,
                    order,
                    amount=amount,
                    out_refund_no=out_refund_no,
                    reason=reason,
                    now=now,
                    config=self.config,
                    metadata=metadata,
                )
                credit.refresh_overdue(conn, now.date(), order.buyer_id)  # it may cancel a late due
                if self.config.risk_rules:
                    risk.after_refund(conn, dict(self.config.risk_rules), merchant_id, now)
                return tx.done(refund)
        except IntegrityError:
            raise ConflictError(
                f"out_refund_no {out_refund_no!r} was already used",
                code="DUPLICATE_OUT_REFUND_NO",
            ) from None

    def get_refund(self, merchant_id: str, refund_id: str) -> dict[str, Any]:
        with reading(self.engine) as conn:
            row = conn.execute(
                sa.select(refund_rows).where(
                    refund_rows.c.id == refund_id, refund_rows.c.merchant_id == merchant_id
                )
            ).first()
        if row is None:
            raise lifecycle.not_found("refund", refund_id)
        return refund_json(row)


def offer_for(offers: tuple[PlanOffer, ...], plan_id: str) -> PlanOffer:
    """The issuer's offer with ``plan_id``, or ``PLAN_NOT_AVAILABLE``."""
    for offer in offers:
        if offer.plan_id == plan_id:
            return offer
    raise InvalidRequestError(f"plan {plan_id[:40]!r} is not offered", code="PLAN_NOT_AVAILABLE")


def owned_row(
    conn: sa.Connection,
    table: sa.Table,
    kind: str,
    merchant_id: str | None,
    obj_id: str,
    *,
    lock: bool = False,
) -> Any:
    """The row with ``obj_id``; another merchant's row is "not found" too (no id probing).

    ``lock``: the row is locked until the transaction ends (``FOR UPDATE``), for a read
    that a state change is computed from (see :mod:`.locking`).
    """
    query = by_id(table, owned=merchant_id is not None, lock=lock)
    row = conn.execute(query, {"obj_id": obj_id, "owner": merchant_id}).first()
    if row is None:
        raise lifecycle.not_found(kind, obj_id)
    return row
