"""What a test reads from the mock issuer's books: ledger entries and balances.

Plain reads of the issuer's own tables (never a write), so that a merchant's test can
assert that a retried checkout or capture left exactly one HOLD or CAPTURE behind.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..errors import NotFoundError
from ..issuer.storage import schema as db
from ..money import Money


def ledger_entries(engine: sa.Engine, buyer_id: str) -> list[tuple[str, str, Money]]:
    """The buyer's ledger entries, oldest first, as ``(reason, reference, amount)``."""
    table = db.ledger_entries
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.reason, table.c.reference, table.c.amount, table.c.currency)
            .where(table.c.buyer_id == buyer_id)
            .order_by(table.c.id)
        ).all()
    return [(r.reason, r.reference, Money.from_minor(r.amount, r.currency)) for r in rows]


def balances(engine: sa.Engine, buyer_id: str) -> dict[str, Money]:
    """``limit``, ``available``, ``held`` and ``outstanding`` of one buyer."""
    table = db.buyers
    with engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == buyer_id)).first()
    if row is None:
        raise NotFoundError(f"no test buyer {buyer_id}")
    return {
        "limit": Money.from_minor(row.credit_limit, row.currency),
        "available": Money.from_minor(row.available, row.currency),
        "held": Money.from_minor(row.held, row.currency),
        "outstanding": Money.from_minor(row.outstanding, row.currency),
    }
