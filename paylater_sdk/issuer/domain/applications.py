"""Opening a credit line (开通分付): an application, its decision, and the decision record.

One transaction per application: the applicant's row is found by the keyed hash of the
phone (locked), the decision is made by the issuer's :class:`~.scorecard.CreditModel` with
the caps enforced (:func:`.scorecard.decide`), the buyer is created or its line opened
through the ledger, and the decision is appended to ``credit_decisions``. A buyer who
already has a line cannot apply again (409 ``DUPLICATE_PHONE``); one who was declined can.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ...errors import ConflictError, NotFoundError
from ...lifecycle import CheckoutState
from ...money import Money
from ..config import CreditPolicy
from ..storage.locking import locked
from ..storage.pii import PhoneVault, mask_phone
from ..storage.schema import buyers, credit_decisions, orders, rfc3339, to_epoch
from . import credit, ledger
from .credit import TestBuyer
from .scorecard import Application, CreditModel, Decision, decide

__all__ = [
    "Applied",
    "account_view",
    "apply",
    "decision_history",
    "record_decision",
]

_OPEN_ORDERS = (CheckoutState.AUTHORIZED, CheckoutState.CAPTURED, CheckoutState.PARTIALLY_REFUNDED)


@attrs.frozen(repr=False)
class Applied:
    """The applicant (a :class:`TestBuyer`) and the decision on the application."""

    buyer: TestBuyer
    decision: Decision

    def __repr__(self) -> str:
        return f"Applied({self.buyer!r}, approved={self.decision.approved})"


def record_decision(
    conn: sa.Connection,
    *,
    buyer_id: str,
    decision: Decision,
    application: Application | None,
    kind: str,
    now: datetime,
    note: str | None = None,
) -> None:
    """Append one decision to the record (never updated, except erased with the account)."""
    record = decision.record()
    consented = application is not None and application.consent
    conn.execute(
        credit_decisions.insert().values(
            buyer_id=buyer_id,
            created_at=to_epoch(now),
            kind=kind,
            model_version=decision.model_version,
            inputs_json=json.dumps(application.inputs_json()) if consented else None,  # type: ignore[union-attr]
            points_json=json.dumps(record["points"]),
            caps_json=json.dumps(record["caps"]),
            approved=decision.approved,
            grade=record["grade"],
            limit_amount=decision.limit.minor,
            currency=decision.limit.currency,
            reasons_json=json.dumps(record["reasons"]),
            note=note,
        )
    )


def _declared(application: Application, now: datetime, approved: bool) -> dict[str, Any]:
    if not application.consent:  # nothing declared is kept without consent
        return {}
    return {
        "monthly_income": application.monthly_income.minor,
        "monthly_debt_payments": application.monthly_debt_payments.minor,
        "employment": application.employment.value,
        "line_opened_at": to_epoch(now) if approved else None,
    }


def apply(
    conn: sa.Connection,
    vault: PhoneVault,
    *,
    model: CreditModel,
    policy: CreditPolicy,
    phone: str,
    application: Application,
    now: datetime,
) -> Applied:
    """Decide on ``application`` for ``phone`` and open the line, in the caller's transaction."""
    digest = vault.digest(phone)
    row = conn.execute(locked(sa.select(buyers).where(buyers.c.phone_hash == digest))).first()
    if row is not None and (row.credit_limit > 0 or row.line_opened_at is not None):
        raise _has_line(phone)
    decision = decide(model, application, policy)
    declared = _declared(application, now, decision.approved)
    if row is None:
        try:
            with conn.begin_nested():
                buyer = credit.insert_buyer(
                    conn, vault, limit=decision.limit, now=now, phone=phone, declared=declared
                )
        except IntegrityError:  # the same phone applied concurrently
            raise _has_line(phone) from None
    else:
        buyer = TestBuyer(id=row.id, buyer_token=row.buyer_token, phone=phone)
        if declared:
            conn.execute(buyers.update().where(buyers.c.id == row.id).values(**declared))
        if not ledger.change_limit(
            conn,
            buyer_id=row.id,
            delta=decision.limit.minor,
            currency=row.currency,
            reason="APPLICATION",
            reference=row.id,
            now=now,
        ):
            raise ledger.LedgerError(f"opening the line of {row.id} matched no row")
    record_decision(
        conn,
        buyer_id=buyer.id,
        decision=decision,
        application=application,
        kind="APPLICATION",
        now=now,
    )
    return Applied(buyer, decision)


def _has_line(phone: str) -> ConflictError:
    return ConflictError(
        f"the buyer with phone {mask_phone(phone)} has a credit line already",
        code="DUPLICATE_PHONE",
    )


def decision_history(conn: sa.Connection, buyer_id: str) -> list[dict[str, Any]]:
    """The buyer's decisions, newest first, as the admin page shows them."""
    rows = conn.execute(
        sa.select(credit_decisions)
        .where(credit_decisions.c.buyer_id == buyer_id)
        .order_by(credit_decisions.c.id.desc())
    ).all()
    return [
        {
            "id": row.id,
            "kind": row.kind,
            "created_at": rfc3339(row.created_at),
            "model_version": row.model_version,
            "approved": row.approved,
            "grade": row.grade,
            "limit": Money.from_minor(row.limit_amount, row.currency).to_json(),
            "reasons": json.loads(row.reasons_json),
            "inputs": None if row.inputs_json is None else json.loads(row.inputs_json),
            "points": json.loads(row.points_json),
            "caps": json.loads(row.caps_json),
            "note": row.note,
        }
        for row in rows
    ]


def _money(minor: int | None, currency: str) -> dict[str, Any] | None:
    return None if minor is None else Money.from_minor(minor, currency).to_json()


def account_view(conn: sa.Connection, vault: PhoneVault, buyer_id: str) -> dict[str, Any]:
    """What the issuer holds about a buyer's line (the phone masked), for the buyer's own
    account page and the operator's admin page; never for a merchant."""
    row = conn.execute(sa.select(buyers).where(buyers.c.id == buyer_id)).first()
    if row is None:
        raise NotFoundError("no such buyer", code="NOT_FOUND")
    open_orders: Sequence[Any] = conn.execute(
        sa.select(orders.c.id, orders.c.state, orders.c.amount, orders.c.currency)
        .where(orders.c.buyer_id == buyer_id, orders.c.state.in_(_OPEN_ORDERS))
        .order_by(orders.c.authorized_at.desc())
    ).all()
    cur = row.currency
    return {
        "id": row.id,
        "phone": vault.masked(row.phone_enc),
        "status": row.status,
        "overdue": row.overdue,
        "has_line": credit.line_open(row.credit_limit, row.line_opened_at),
        "limit": _money(row.credit_limit, cur),
        "available": _money(row.available, cur),
        "held": _money(row.held, cur),
        "outstanding": _money(row.outstanding, cur),
        "monthly_income": _money(row.monthly_income, cur),
        "monthly_debt_payments": _money(row.monthly_debt_payments, cur),
        "employment": row.employment,
        "line_opened_at": rfc3339(row.line_opened_at),
        "reviewed_at": rfc3339(row.reviewed_at),
        "created_at": rfc3339(row.created_at),
        "open_orders": [
            {"id": o.id, "state": o.state, "amount": _money(o.amount, o.currency)}
            for o in open_orders
        ],
    }
