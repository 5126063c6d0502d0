"""Personal data (PIPL): what is held about a buyer (right of access), closing an account,
and erasing the personal data of closed accounts while the ledger stays whole.

Erasure removes the sealed phone number (the lookup hash becomes a placeholder), the
declared income, debt payments and employment, the inputs of every decision record and
the device sightings. Balances, ledger entries, orders and refunds stay: the books must
still balance and be auditable, and they hold no personal data.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ...errors import ConflictError, NotFoundError
from ...lifecycle import BuyerStatus
from ..storage.locking import locked
from ..storage.pii import PhoneVault
from ..storage.schema import (
    buyers,
    credit_decisions,
    device_sightings,
    ledger_entries,
    orders,
    rfc3339,
    risk_alerts,
    to_epoch,
    wechat_payers,
)
from . import ledger
from .applications import account_view, decision_history

__all__ = ["close_account", "export_buyer", "purge_closed"]


def export_buyer(conn: sa.Connection, vault: PhoneVault, buyer_id: str) -> dict[str, Any]:
    """Everything held about one buyer, for the buyer (so the phone number in full)."""
    view = account_view(conn, vault, buyer_id)
    row = conn.execute(sa.select(buyers).where(buyers.c.id == buyer_id)).one()
    view["phone"] = vault.open(row.phone_enc) if row.phone_enc else None
    view["closed_at"] = rfc3339(row.closed_at)
    view["pii_erased_at"] = rfc3339(row.pii_erased_at)
    view["decisions"] = decision_history(conn, buyer_id)
    view["orders"] = [
        {
            "id": o.id,
            "merchant_id": o.merchant_id,
            "state": o.state,
            "amount": {"value": o.amount, "currency": o.currency},
            "plan": json.loads(o.plan_json),
            "schedule": None if o.schedule_json is None else json.loads(o.schedule_json),
            "authorized_at": rfc3339(o.authorized_at),
        }
        for o in conn.execute(
            sa.select(orders).where(orders.c.buyer_id == buyer_id).order_by(orders.c.authorized_at)
        )
    ]
    view["ledger"] = [
        {
            "created_at": rfc3339(e.created_at),
            "reason": e.reason,
            "reference": e.reference,
            "limit_delta": e.limit_delta,
            "available_delta": e.available_delta,
            "held_delta": e.held_delta,
            "outstanding_delta": e.outstanding_delta,
            "currency": e.currency,
        }
        for e in conn.execute(
            sa.select(ledger_entries)
            .where(ledger_entries.c.buyer_id == buyer_id)
            .order_by(ledger_entries.c.id)
        )
    ]
    view["devices_seen"] = conn.execute(
        sa.select(sa.func.count())
        .select_from(device_sightings)
        .where(device_sightings.c.buyer_id == buyer_id)
    ).scalar_one()
    view["risk_alerts"] = [
        {"id": a.id, "rule": a.rule, "action": a.action, "created_at": rfc3339(a.created_at)}
        for a in conn.execute(
            sa.select(risk_alerts).where(risk_alerts.c.subject == f"buyer:{buyer_id}")
        )
    ]
    return view


def close_account(conn: sa.Connection, buyer_id: str, now: datetime) -> None:
    """Close a line with nothing held or owed: limit to 0, frozen, ``closed_at`` set."""
    row = conn.execute(locked(sa.select(buyers).where(buyers.c.id == buyer_id))).first()
    if row is None:
        raise NotFoundError("no such buyer", code="NOT_FOUND")
    if row.held or row.outstanding:
        raise ConflictError(
            "an account with a hold or an outstanding balance cannot be closed",
            code="INVALID_STATE",
        )
    if row.closed_at is not None:
        return
    ledger.change_limit(
        conn,
        buyer_id=buyer_id,
        delta=-row.credit_limit,
        currency=row.currency,
        reason="CLOSE",
        reference=buyer_id,
        now=now,
    )
    conn.execute(
        buyers.update()
        .where(buyers.c.id == buyer_id)
        .values(status=BuyerStatus.FROZEN, closed_at=to_epoch(now))
    )


def purge_closed(conn: sa.Connection, before: int, now: datetime) -> list[str]:
    """Erase the personal data of accounts closed before ``before`` (epoch seconds)."""
    ids = list(
        conn.execute(
            locked(
                sa.select(buyers.c.id).where(
                    buyers.c.closed_at.is_not(None),
                    buyers.c.closed_at < before,
                    buyers.c.pii_erased_at.is_(None),
                )
            )
        ).scalars()
    )
    for buyer_id in ids:
        conn.execute(
            buyers.update()
            .where(buyers.c.id == buyer_id)
            .values(
                phone_hash=f"erased:{buyer_id}",
                phone_enc=None,
                monthly_income=None,
                monthly_debt_payments=None,
                employment=None,
                pii_erased_at=to_epoch(now),
            )
        )
        conn.execute(
            credit_decisions.update()
            .where(credit_decisions.c.buyer_id == buyer_id)
            .values(inputs_json=None)
        )
        conn.execute(device_sightings.delete().where(device_sightings.c.buyer_id == buyer_id))
        # The WeChat face's lookup key of the phone (a keyed digest of its SM3 hash) goes too.
        conn.execute(
            wechat_payers.update()
            .where(wechat_payers.c.buyer_id == buyer_id)
            .values(phone_hash=f"erased:{buyer_id}")
        )
    return ids
