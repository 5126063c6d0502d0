"""Lists of a merchant's checkouts, refunds and events: cursor pages, newest first.

A page is ordered by the row's list position (``list_seq``, descending), which is handed
out in commit order (:mod:`..storage.positions`): what any reader sees is every position
up to some N. Hence the guarantee docs/api.md gives:

- paging with ``starting_after`` (older) from a first page returns every object that was
  committed when the first page was read exactly once, however many objects are created
  meanwhile (they are newer than the first page, so they are not on the later pages);
- polling with ``ending_before=<the newest id seen>`` returns every object committed
  since, exactly once, including one whose transaction started earlier but committed
  later (it is numbered when it commits its turn, never below a position already seen).

``created_gte`` / ``created_lt`` filter on ``created_at`` (the business clock); the order
is the list position, which agrees with ``created_at`` except for objects created in the
same second or by processes whose clocks differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from ...errors import InvalidRequestError
from ..storage.schema import checkouts, orders, refunds

__all__ = ["ListQuery", "Page", "checkout_filters", "page", "refund_filters"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@attrs.frozen
class ListQuery:
    """A list request, already checked by the web layer (times are epoch seconds)."""

    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    ending_before: str | None = None
    state: str | None = None
    created_gte: int | None = None
    created_lt: int | None = None
    out_trade_no: str | None = None


@attrs.frozen
class Page:
    """One page: the objects (JSON-ready, newest first) and whether more lie beyond it."""

    data: list[dict[str, Any]]
    has_more: bool

    def to_json(self) -> dict[str, Any]:
        return {"data": self.data, "has_more": self.has_more}


def bad_cursor(name: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{name} is not an object of this list (or it is older than the list keeps)",
        code="INVALID_QUERY",
        field=name,
    )


def _position(conn: sa.Connection, table: sa.Table, merchant_id: str, obj_id: str) -> int | None:
    found = conn.execute(
        sa.select(table.c.list_seq).where(table.c.id == obj_id, table.c.merchant_id == merchant_id)
    ).scalar()
    return None if found is None else int(found)


def page(
    conn: sa.Connection,
    table: sa.Table,
    merchant_id: str,
    query: ListQuery,
    *,
    filters: Sequence[sa.ColumnElement[bool]],
    render: Callable[[sa.Connection, Any], dict[str, Any]],
) -> Page:
    """One page of ``table``'s rows of ``merchant_id`` matching ``filters`` and ``query``.

    ``ending_before`` selects the ``limit`` rows just newer than the cursor (the oldest of
    them), shown newest first like every page; ``has_more`` then says whether even newer
    rows exist. Both cursors at once are refused by the web layer.
    """
    where: list[sa.ColumnElement[bool]] = [table.c.merchant_id == merchant_id, *filters]
    if query.state is not None:
        where.append(table.c.state == query.state)
    if query.created_gte is not None:
        where.append(table.c.created_at >= query.created_gte)
    if query.created_lt is not None:
        where.append(table.c.created_at < query.created_lt)
    newer = query.ending_before is not None
    cursor_name = "ending_before" if newer else "starting_after"
    cursor_id = query.ending_before if newer else query.starting_after
    if cursor_id is not None:
        position = _position(conn, table, merchant_id, cursor_id)
        if position is None:
            raise bad_cursor(cursor_name)
        where.append(table.c.list_seq > position if newer else table.c.list_seq < position)
    order = table.c.list_seq.asc() if newer else table.c.list_seq.desc()
    found = conn.execute(
        sa.select(table).where(*where).order_by(order).limit(query.limit + 1)
    ).all()
    has_more = len(found) > query.limit
    rows = list(found[: query.limit])
    if newer:
        rows.reverse()
    return Page([render(conn, row) for row in rows], has_more)


def checkout_filters(query: ListQuery) -> list[sa.ColumnElement[bool]]:
    if query.out_trade_no is None:
        return []
    return [checkouts.c.out_trade_no == query.out_trade_no]


def refund_filters(merchant_id: str, query: ListQuery) -> list[sa.ColumnElement[bool]]:
    """Refunds of the order of the checkout with ``out_trade_no``."""
    if query.out_trade_no is None:
        return []
    of_checkout = (
        sa.select(orders.c.id)
        .join(checkouts, checkouts.c.id == orders.c.checkout_id)
        .where(
            checkouts.c.merchant_id == merchant_id, checkouts.c.out_trade_no == query.out_trade_no
        )
    )
    return [refunds.c.order_id.in_(of_checkout)]
