"""The periodic limit review: every ``CREDIT_REVIEW_DAYS`` of the (test) clock, each line
opened by an application is re-scored and raised or cut, never below what is used.

The review re-runs the issuer's current model and caps on the inputs of the buyer's last
application (settings and models change; a review is where a line catches up), and a buyer
who is overdue at review time is cut to what is held and outstanding. Each review is one
transaction per buyer, recorded in ``credit_decisions`` (kind ``REVIEW``) with a note
saying what changed and why; ``/account`` shows the latest.
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...lifecycle import Employment
from ...money import Money
from ..config import CreditPolicy
from ..storage.locking import locked
from ..storage.schema import buyers, credit_decisions, reading, to_epoch
from . import ledger
from .applications import record_decision
from .scorecard import Application, CreditModel, decide, profile_from_json

__all__ = ["due_for_review", "review_buyer"]

_DAY = 24 * 3600


#: Built once (see :mod:`..storage.prepared`): the sweep asks every second.
_DUE = (
    sa.select(buyers.c.id)
    .where(
        buyers.c.line_opened_at.is_not(None),
        buyers.c.pii_erased_at.is_(None),
        sa.func.coalesce(buyers.c.reviewed_at, buyers.c.line_opened_at) <= sa.bindparam("since"),
    )
    .order_by(buyers.c.id)
)


def due_for_review(engine: Engine, now: datetime, days: int) -> list[str]:
    """Buyers whose line was opened or last reviewed ``days`` ago or more."""
    with reading(engine) as conn:
        return list(conn.execute(_DUE, {"since": to_epoch(now) - days * _DAY}).scalars())


def _last_application(conn: sa.Connection, buyer_id: str) -> Application | None:
    inputs = conn.execute(
        sa.select(credit_decisions.c.inputs_json)
        .where(
            credit_decisions.c.buyer_id == buyer_id,
            credit_decisions.c.kind == "APPLICATION",
            credit_decisions.c.inputs_json.is_not(None),
        )
        .order_by(credit_decisions.c.id.desc())
        .limit(1)
    ).scalar()
    if inputs is None:
        return None
    data = json.loads(inputs)
    return Application(
        monthly_income=Money.from_json(data["monthly_income"]),
        monthly_debt_payments=Money.from_json(data["monthly_debt_payments"]),
        employment=Employment(data["employment"]),
        consent=bool(data["consent"]),
        profile=profile_from_json(data["profile"]),
    )


def review_buyer(
    conn: sa.Connection,
    buyer_id: str,
    *,
    model: CreditModel,
    policy: CreditPolicy,
    now: datetime,
) -> str | None:
    """Re-score one buyer in the caller's transaction; the note recorded, or None."""
    row = conn.execute(locked(sa.select(buyers).where(buyers.c.id == buyer_id))).first()
    application = _last_application(conn, buyer_id) if row is not None else None
    if row is None or application is None:
        return None
    decision = decide(model, application, policy)
    used = row.held + row.outstanding
    target = decision.limit.minor
    why = "re-scored" if decision.approved else "declined on review: " + ",".join(decision.reasons)
    if row.overdue:
        target, why = min(target, used), "overdue at review"
    target = max(target, used)  # never below what is held and outstanding
    old = row.credit_limit
    verb = "raised" if target > old else "cut" if target < old else "kept"
    note = f"{verb} from {Money.from_minor(old, row.currency)} to "
    note += f"{Money.from_minor(target, row.currency)} ({why})"
    if not ledger.change_limit(
        conn,
        buyer_id=buyer_id,
        delta=target - old,
        currency=row.currency,
        reason="REVIEW",
        reference=buyer_id,
        now=now,
    ):
        raise ledger.LedgerError(f"the review of {buyer_id} matched no row")
    conn.execute(buyers.update().where(buyers.c.id == buyer_id).values(reviewed_at=to_epoch(now)))
    record_decision(
        conn,
        buyer_id=buyer_id,
        decision=decision,
        application=application,
        kind="REVIEW",
        now=now,
        note=note,
    )
    return note
