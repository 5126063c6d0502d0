"""Risk early warning (风险预警): rules evaluated on credit events, alerts, actions.

Each rule reads the database in the transaction of the event that triggered it (an
authorization, a refund, a sign-in with a device id, an application), so an alert and its
action commit or roll back with the event. Thresholds, actions and severities are settings
(``RISK_RULES``, :data:`~..config.RISK_RULE_DEFAULTS`). Actions:

- ``alert``: record the alert only;
- ``freeze``: freeze the buyer(s) (every purchase then declines ``ACCOUNT_FROZEN``);
- ``cut_limit``: cut the line to what is held and outstanding (never below it);
- ``review``: record the alert for an operator's review (``/_admin/alerts?action=review``).

A rule fires at most once per subject within its window. ``FIRST_PAYMENT_DEFAULT`` is
evaluated by the daily servicing sweep, in the buyer's sweep transaction.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ...lifecycle import BuyerStatus, RiskRule
from ..config import RiskRuleConfig
from ..storage.locking import locked
from ..storage.schema import buyers, device_sightings, orders, rfc3339, risk_alerts, to_epoch
from . import ledger

__all__ = [
    "after_authorization",
    "after_missed_installment",
    "after_refund",
    "alerts",
    "device_hash",
    "seen_device",
]

_DAY = 24 * 3600
_ONCE = 100 * 365 * _DAY  # a window no order outlives: the rule fires once per subject


# Built once (see :mod:`..storage.prepared`): every sign-in and authorization runs these.
_RECENT_ALERT = (
    sa.select(risk_alerts.c.id)
    .where(
        risk_alerts.c.rule == sa.bindparam("rule"),
        risk_alerts.c.subject == sa.bindparam("subject"),
        risk_alerts.c.created_at >= sa.bindparam("since"),
    )
    .limit(1)
)
_AUTHORIZATIONS_SINCE = (
    sa.select(sa.func.count())
    .select_from(orders)
    .where(
        orders.c.buyer_id == sa.bindparam("buyer_id"),
        orders.c.authorized_at > sa.bindparam("since"),
    )
)
_USE = sa.select(
    buyers.c.credit_limit, buyers.c.held, buyers.c.outstanding, buyers.c.line_opened_at
).where(buyers.c.id == sa.bindparam("buyer_id"))
_SEEN_AGAIN = (
    device_sightings.update()
    .where(
        device_sightings.c.device_hash == sa.bindparam("digest"),
        device_sightings.c.buyer_id == sa.bindparam("who"),
    )
    .values(seen_at=sa.bindparam("moment"))
)
_LAST_CAPTURES = (
    sa.select(orders.c.captured_amount, orders.c.refunded_amount)
    .where(orders.c.merchant_id == sa.bindparam("owner"), orders.c.captured_at.is_not(None))
    .order_by(orders.c.captured_at.desc(), orders.c.id.desc())
    .limit(sa.bindparam("n"))
)
_FIRST_SEEN = device_sightings.insert()
_DEVICE_BUYERS = sa.select(device_sightings.c.buyer_id).where(
    device_sightings.c.device_hash == sa.bindparam("digest"),
    device_sightings.c.seen_at > sa.bindparam("since"),
)


def device_hash(device_id: str) -> str:
    """Device ids are stored hashed: the evidence needs sameness, not the id."""
    return hashlib.sha256(b"paylater-device:" + device_id.encode()).hexdigest()


def _recent_alert(conn: sa.Connection, rule: str, subject: str, since: int) -> bool:
    found = conn.execute(_RECENT_ALERT, {"rule": rule, "subject": subject, "since": since})
    return found.first() is not None


def _raise(
    conn: sa.Connection,
    config: RiskRuleConfig,
    *,
    subject: str,
    evidence: dict[str, Any],
    buyer_ids: list[str],
    now: datetime,
    window: int,
) -> bool:
    """Record the alert and take its action, unless it fired for ``subject`` in ``window``."""
    moment = to_epoch(now)
    if _recent_alert(conn, config.rule, subject, moment - window):
        return False
    for buyer_id in sorted(buyer_ids):  # one lock order: no deadlock between two alerts
        _act(conn, config.action, buyer_id, now)
    conn.execute(
        risk_alerts.insert().values(
            id=f"alr_{secrets.token_hex(12)}",
            rule=config.rule,
            severity=config.severity,
            subject=subject,
            evidence_json=json.dumps(evidence, sort_keys=True),
            action=config.action,
            created_at=moment,
        )
    )
    return True


def _act(conn: sa.Connection, action: str, buyer_id: str, now: datetime) -> None:
    if action == "freeze":
        conn.execute(
            buyers.update().where(buyers.c.id == buyer_id).values(status=BuyerStatus.FROZEN)
        )
    elif action == "cut_limit":
        row = conn.execute(
            locked(sa.select(buyers.c.available, buyers.c.currency).where(buyers.c.id == buyer_id))
        ).first()
        if row is not None and row.available > 0:
            ledger.change_limit(
                conn,
                buyer_id=buyer_id,
                delta=-row.available,
                currency=row.currency,
                reason="RISK_CUT",
                reference=buyer_id,
                now=now,
            )


def after_authorization(
    conn: sa.Connection, rules: dict[str, RiskRuleConfig], buyer_id: str, now: datetime
) -> None:
    """VELOCITY and UTILIZATION_SPIKE, in the authorization's transaction."""
    moment = to_epoch(now)
    velocity = rules[RiskRule.VELOCITY]
    window = int(velocity.number("window"))
    count = conn.execute(
        _AUTHORIZATIONS_SINCE, {"buyer_id": buyer_id, "since": moment - window}
    ).scalar_one()
    if count >= velocity.number("count"):
        _raise(
            conn,
            velocity,
            subject=f"buyer:{buyer_id}",
            evidence={"authorizations": count, "window_seconds": window},
            buyer_ids=[buyer_id],
            now=now,
            window=window,
        )
    spike = rules[RiskRule.UTILIZATION_SPIKE]
    row = conn.execute(_USE, {"buyer_id": buyer_id}).first()
    if row is None or row.line_opened_at is None or row.credit_limit <= 0:
        return
    spike_window = int(spike.number("window"))
    used = Decimal(row.held + row.outstanding) / row.credit_limit
    if moment - row.line_opened_at <= spike_window and used > spike.number("ratio"):
        _raise(
            conn,
            spike,
            subject=f"buyer:{buyer_id}",
            evidence={
                "used_ratio": str(used.quantize(Decimal("0.0001"))),
                "seconds_since_opening": moment - row.line_opened_at,
            },
            buyer_ids=[buyer_id],
            now=now,
            window=spike_window,
        )


def seen_device(
    conn: sa.Connection,
    rules: dict[str, RiskRuleConfig],
    device_id: str,
    buyer_id: str,
    now: datetime,
) -> None:
    """A buyer signed in from a device: record it, then SHARED_DEVICE."""
    digest = device_hash(device_id)
    moment = to_epoch(now)
    sighting = {"digest": digest, "who": buyer_id, "moment": moment}
    if conn.execute(_SEEN_AGAIN, sighting).rowcount == 0:
        conn.execute(
            _FIRST_SEEN,
            {"device_hash": digest, "buyer_id": buyer_id, "seen_at": moment},
        )
    rule = rules[RiskRule.SHARED_DEVICE]
    window = int(rule.number("window"))
    sharing = list(
        conn.execute(_DEVICE_BUYERS, {"digest": digest, "since": moment - window}).scalars()
    )
    if len(sharing) >= rule.number("buyers"):
        _raise(
            conn,
            rule,
            subject=f"device:{digest[:16]}",
            evidence={"buyers": sorted(sharing), "window_seconds": window},
            buyer_ids=sharing,
            now=now,
            window=window,
        )


def after_missed_installment(
    conn: sa.Connection,
    rules: dict[str, RiskRuleConfig],
    *,
    buyer_id: str,
    order_id: str,
    installment: int,
    days_past_due: int,
    now: datetime,
) -> bool:
    """FIRST_PAYMENT_DEFAULT: an order's first installment still unpaid after its grace.

    A buyer who never pays the first installment is the earliest sign of a loan that
    should not have been made (or of fraud), so it fires once per order, on the day the
    grace period ends, and takes its action (by default: freeze the buyer). Later
    installments are the delinquency buckets' business, not this rule's.
    """
    if installment != 1:
        return False
    return _raise(
        conn,
        rules[RiskRule.FIRST_PAYMENT_DEFAULT],
        subject=f"order:{order_id}",
        evidence={"buyer_id": buyer_id, "installment": 1, "days_past_due": days_past_due},
        buyer_ids=[buyer_id],
        now=now,
        window=_ONCE,
    )


def after_refund(
    conn: sa.Connection, rules: dict[str, RiskRuleConfig], merchant_id: str, now: datetime
) -> None:
    """MERCHANT_REFUND_RATE over the merchant's last captured orders, by amount."""
    rule = rules[RiskRule.MERCHANT_REFUND_RATE]
    rows = conn.execute(_LAST_CAPTURES, {"owner": merchant_id, "n": int(rule.number("last"))}).all()
    captured = sum(r.captured_amount for r in rows)
    refunded = sum(r.refunded_amount for r in rows)
    if len(rows) < rule.number("min_captures") or captured <= 0:
        return
    rate = Decimal(refunded) / captured
    if rate > rule.number("ratio"):
        _raise(
            conn,
            rule,
            subject=f"merchant:{merchant_id}",
            evidence={
                "captures": len(rows),
                "refund_rate": str(rate.quantize(Decimal("0.0001"))),
            },
            buyer_ids=[],
            now=now,
            window=_DAY,
        )


def alerts(
    conn: sa.Connection,
    *,
    rule: str | None = None,
    subject: str | None = None,
    action: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts, newest first, optionally filtered by rule, subject and action."""
    query = sa.select(risk_alerts).order_by(
        risk_alerts.c.created_at.desc(), risk_alerts.c.id.desc()
    )
    if rule is not None:
        query = query.where(risk_alerts.c.rule == rule)
    if subject is not None:
        query = query.where(risk_alerts.c.subject == subject)
    if action is not None:
        query = query.where(risk_alerts.c.action == action)
    return [
        {
            "id": row.id,
            "rule": row.rule,
            "severity": row.severity,
            "subject": row.subject,
            "evidence": json.loads(row.evidence_json),
            "created_at": rfc3339(row.created_at),
            "action": row.action,
        }
        for row in conn.execute(query.limit(limit))
    ]
