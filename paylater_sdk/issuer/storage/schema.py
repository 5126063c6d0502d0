"""Storage: SQLAlchemy Core tables and engine creation (migrations: :mod:`.migrate`).

Portable SQL only (SQLite by default, and PostgreSQL): money is BigInteger minor units
plus a currency column, times are integer epoch seconds (UTC), JSON documents are text.
SQLite gets WAL mode, a busy timeout and ``BEGIN IMMEDIATE`` transactions: a deferred
transaction that reads and then writes can fail with "database is locked" when another
writer got in between, which a busy timeout does not cure; taking the write lock at
``BEGIN`` serialises writers cleanly instead.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .liveness import ping_when_idle
from .writers import WriterQueue

__all__ = [
    "bills",
    "buyer_events",
    "buyers",
    "captures",
    "checkouts",
    "credit_decisions",
    "device_sightings",
    "faults",
    "from_epoch",
    "idempotency_keys",
    "issuer_keys",
    "issuer_state",
    "ledger_entries",
    "list_counters",
    "log_failure",
    "make_engine",
    "merchant_keys",
    "merchants",
    "metadata",
    "notification_attempts",
    "notifications",
    "orders",
    "rate_counters",
    "reading",
    "receivable_entries",
    "refunds",
    "repayment_lines",
    "repayments",
    "rfc3339",
    "risk_alerts",
    "seen_nonces",
    "to_epoch",
    "wechat_bills",
    "wechat_merchants",
    "wechat_payers",
    "wechat_platform_keys",
    "wechat_refunds",
    "wechat_transactions",
]

metadata = sa.MetaData()

#: Small key/value facts about the issuer itself (the test clock offset).
issuer_state = sa.Table(
    "issuer_state",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

issuer_keys = sa.Table(
    "issuer_keys",
    metadata,
    sa.Column("serial", sa.String(64), primary_key=True),
    sa.Column("algorithm", sa.String(32), nullable=False),
    sa.Column("private_pem", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("not_after", sa.BigInteger, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, default=False),
)

#: At most one active signing key, enforced by the database (two processes starting at
#: once, or a rotation racing a start-up, can never leave two keys signing).
_ONE_ACTIVE_KEY = sa.Index(
    "uq_issuer_keys_one_active",
    issuer_keys.c.active,
    unique=True,
    sqlite_where=issuer_keys.c.active == sa.true(),
    postgresql_where=issuer_keys.c.active == sa.true(),
)

#: Nonces of signed requests already accepted, shared by every process on the database.
#: ``signed_at`` is the message's own timestamp: rows older than twice the skew window
#: can be forgotten (such a message is refused by its timestamp alone).
seen_nonces = sa.Table(
    "seen_nonces",
    metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("signed_at", sa.BigInteger, nullable=False, index=True),
)

#: Fixed-window request counters (eligibility rate limits), shared by every process.
rate_counters = sa.Table(
    "rate_counters",
    metadata,
    sa.Column("scope", sa.String(160), primary_key=True),
    sa.Column("window_start", sa.BigInteger, primary_key=True),
    sa.Column("hits", sa.Integer, nullable=False),
)

merchants = sa.Table(
    "merchants",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("api_key", sa.String(64), nullable=False),
    sa.Column("notify_prefixes", sa.Text, nullable=False),  # JSON list
    sa.Column("return_prefixes", sa.Text, nullable=False),  # JSON list
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

merchant_keys = sa.Table(
    "merchant_keys",
    metadata,
    sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.id"), primary_key=True),
    sa.Column("serial", sa.String(64), primary_key=True),
    sa.Column("public_pem", sa.Text, nullable=False),
)

buyers = sa.Table(
    "buyers",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("buyer_token", sa.String(80), nullable=False, unique=True),
    # PIPL: never the number in clear; a keyed hash to find it, a sealed copy to show it
    # masked (storage/pii.py). An erased account keeps a placeholder hash, no sealed copy.
    sa.Column("phone_hash", sa.String(64), nullable=False),
    sa.Column("phone_enc", sa.Text, nullable=True),
    sa.Column("test_code", sa.String(16), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("credit_limit", sa.BigInteger, nullable=False),
    sa.Column("available", sa.BigInteger, nullable=False),
    sa.Column("held", sa.BigInteger, nullable=False),
    sa.Column("outstanding", sa.BigInteger, nullable=False),
    sa.Column("single_purchase_max", sa.BigInteger, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("overdue_flag", sa.Boolean, nullable=False),  # set at creation
    sa.Column("overdue", sa.Boolean, nullable=False),  # flag OR an installment past due
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # declared at application (docs/credit.md), minor units per month; NULL for buyers
    # created with a typed-in limit, who keep the checks of before
    sa.Column("monthly_income", sa.BigInteger, nullable=True),
    sa.Column("monthly_debt_payments", sa.BigInteger, nullable=True),
    sa.Column("employment", sa.String(16), nullable=True),
    sa.Column("line_opened_at", sa.BigInteger, nullable=True),
    sa.Column("reviewed_at", sa.BigInteger, nullable=True),
    sa.Column("closed_at", sa.BigInteger, nullable=True),
    sa.Column("pii_erased_at", sa.BigInteger, nullable=True),
)

_PHONE_HASH = sa.Index("uq_buyers_phone_hash", buyers.c.phone_hash, unique=True)
#: The overdue refresh of every sweep finds the few buyers flagged overdue (revision 0007).
_OVERDUE = sa.Index("ix_buyers_overdue", buyers.c.overdue)

#: Append-only: every credit decision (application, periodic review) with what explains it.
#: Inputs are pseudonymised: the buyer id, never a phone number; erased with the account.
credit_decisions = sa.Table(
    "credit_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("buyer_id", sa.String(40), sa.ForeignKey("buyers.id"), nullable=False, index=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # APPLICATION | REVIEW
    sa.Column("model_version", sa.String(40), nullable=False),
    sa.Column("inputs_json", sa.Text, nullable=True),
    sa.Column("points_json", sa.Text, nullable=False),
    sa.Column("caps_json", sa.Text, nullable=False),
    sa.Column("approved", sa.Boolean, nullable=False),
    sa.Column("grade", sa.String(1), nullable=True),
    sa.Column("limit_amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reasons_json", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=True),  # a review: what changed and why
)

#: Risk early warning (风险预警): each alert a rule raised and the action taken.
risk_alerts = sa.Table(
    "risk_alerts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("subject", sa.String(80), nullable=False),  # buyer:<id> | merchant:<id>
    sa.Column("evidence_json", sa.Text, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False, index=True),
)

#: Which buyers a device (keyed hash of the consent page's device id) signed in for.
device_sightings = sa.Table(
    "device_sightings",
    metadata,
    sa.Column("device_hash", sa.String(64), primary_key=True),
    sa.Column("buyer_id", sa.String(40), primary_key=True),
    sa.Column("seen_at", sa.BigInteger, nullable=False),
)

#: Append-only: every change of a buyer's balances, with the three deltas.
ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("buyer_id", sa.String(40), sa.ForeignKey("buyers.id"), nullable=False, index=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("reference", sa.String(80), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("limit_delta", sa.BigInteger, nullable=False),
    sa.Column("available_delta", sa.BigInteger, nullable=False),
    sa.Column("held_delta", sa.BigInteger, nullable=False),
    sa.Column("outstanding_delta", sa.BigInteger, nullable=False),
)

#: A settlement bill reads one day of hold moves (revision 0009).
_LEDGER_CREATED = sa.Index("ix_ledger_entries_created_at", ledger_entries.c.created_at)

checkouts = sa.Table(
    "checkouts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("out_trade_no", sa.String(64), nullable=False),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("description", sa.String(256), nullable=False),
    sa.Column("notify_url", sa.String(512), nullable=False),
    sa.Column("return_url", sa.String(512), nullable=False),
    sa.Column("plans_json", sa.Text, nullable=False),  # PlanQuote JSON list, priced at creation
    sa.Column("authorize_url", sa.String(600), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
    # The merchant's key/value strings (a JSON object), returned everywhere.
    sa.Column("metadata_json", sa.Text, nullable=False, server_default="{}"),
    # Position in the merchant's lists, numbered in commit order (storage/positions.py);
    # always set, nullable only so SQLite adds it without rebuilding referenced tables.
    sa.Column("list_seq", sa.BigInteger, nullable=True),  # always set: see 0005
    sa.UniqueConstraint("merchant_id", "out_trade_no", name="uq_checkout_out_trade_no"),
    sa.Index("uq_checkouts_list_seq", "merchant_id", "list_seq", unique=True),
    sa.Index("ix_checkouts_list_state", "merchant_id", "state", "list_seq"),
    sa.Index("ix_checkouts_list_created", "merchant_id", "created_at"),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("checkout_id", sa.String(40), sa.ForeignKey("checkouts.id"), unique=True),
    sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("buyer_id", sa.String(40), sa.ForeignKey("buyers.id"), nullable=False, index=True),
    sa.Column("state", sa.String(24), nullable=False, index=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("held", sa.BigInteger, nullable=False),  # hold still placed for this order
    sa.Column("captured_amount", sa.BigInteger, nullable=False),
    sa.Column("refunded_amount", sa.BigInteger, nullable=False),
    sa.Column("plan_id", sa.String(64), nullable=False),
    sa.Column("plan_json", sa.Text, nullable=False),
    sa.Column("schedule_json", sa.Text, nullable=True),
    # ISO date of the first unpaid, non-zero installment: overdue checks are one query
    sa.Column("next_due_on", sa.String(10), nullable=True, index=True),
    sa.Column("authorized_at", sa.BigInteger, nullable=False),
    sa.Column("authorization_expires_at", sa.BigInteger, nullable=False),
    sa.Column("captured_at", sa.BigInteger, nullable=True),
    sa.Column("metadata_json", sa.Text, nullable=False, server_default="{}"),
    # Bumped by every update: each UPDATE is guarded on the version it read.
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    # Servicing (migration 0006): the penalty rate fixed at capture (a decimal string),
    # penalty and late fees posted so far (minor units), and when the order was written off.
    sa.Column("penalty_rate", sa.String(24), nullable=True),
    sa.Column("penalty_posted_minor", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("late_fees_posted_minor", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("written_off_at", sa.BigInteger, nullable=True),
    # When the authorization was extended, once only (migration 0008); NULL while it was not.
    sa.Column("authorization_extended_at", sa.BigInteger, nullable=True),
)

#: A merchant's newest captured orders: the risk rule MERCHANT_REFUND_RATE reads them on
#: every refund (revision 0007).
_MERCHANT_CAPTURES = sa.Index(
    "ix_orders_merchant_captured", orders.c.merchant_id, orders.c.captured_at, orders.c.id
)

#: The expiry sweep's query: the live holds (``held > 0``) past their expiry; few rows
#: whatever the number of loans (revision 0008).
_LIVE_HOLDS = sa.Index("ix_orders_held_expiry", orders.c.held, orders.c.authorization_expires_at)

#: One row per capture of an order (split shipments, revision 0008); ``final``: it ended the
#: authorization (the rest of the hold was released with it).
captures = sa.Table(
    "captures",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("merchant_id", sa.String(64), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("final", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=False),
    sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("out_refund_no", sa.String(64), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reason", sa.String(256), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("metadata_json", sa.Text, nullable=False, server_default="{}"),
    sa.Column("list_seq", sa.BigInteger, nullable=True),  # always set: see 0005
    sa.UniqueConstraint("merchant_id", "out_refund_no", name="uq_refund_out_refund_no"),
    sa.Index("uq_refunds_list_seq", "merchant_id", "list_seq", unique=True),
    sa.Index("ix_refunds_list_state", "merchant_id", "state", "list_seq"),
    sa.Index("ix_refunds_list_created", "merchant_id", "created_at"),
    sa.Index("ix_refunds_order", "order_id"),
)

#: A buyer's repayment (servicing, docs/servicing.md): the request and its stored answer.
#: ``idempotency_key`` is unique per buyer; a retry with the same key and request gets
#: ``answer_json`` back, committed in the transaction of the repayment itself.
repayments = sa.Table(
    "repayments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("buyer_id", sa.String(40), sa.ForeignKey("buyers.id"), nullable=False, index=True),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("order_id", sa.String(40), nullable=True),
    sa.Column("prepay_keeps", sa.String(16), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("business_date", sa.String(10), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("answer_json", sa.Text, nullable=False),
    sa.UniqueConstraint("buyer_id", "idempotency_key", name="uq_repayments_key"),
)

#: Exactly the ``installments.Payment`` rows of each order: what a repayment (or a refund's
#: credit to past-due principal, ``source = REFUND``) paid, by installment and part.
repayment_lines = sa.Table(
    "repayment_lines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("repayment_id", sa.String(40), nullable=False, index=True),  # or the refund id
    sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("installment", sa.Integer, nullable=False),
    sa.Column("part", sa.String(16), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("business_date", sa.String(10), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # REPAYMENT | REFUND
)

#: Append-only: receivables other than principal (INTEREST, FEE, PENALTY, LATE_FEE) and the
#: written-off account (WRITTEN_OFF), per order; a balance is the sum of its entries.
receivable_entries = sa.Table(
    "receivable_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("buyer_id", sa.String(40), sa.ForeignKey("buyers.id"), nullable=False, index=True),
    sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("delta", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("reference", sa.String(80), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

#: The buyer's own messages (``INSTALLMENT.DUE_SOON``, ``REPAYMENT.SUCCEEDED``, ...): never
#: sent to merchants. ``dedupe_key`` makes a sweeper's event happen once across processes.
buyer_events = sa.Table(
    "buyer_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("buyer_id", sa.String(40), sa.ForeignKey("buyers.id"), nullable=False, index=True),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("order_id", sa.String(40), nullable=True),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("data_json", sa.Text, nullable=False),
    sa.Column("business_date", sa.String(10), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("dedupe_key", sa.String(160), nullable=True, unique=True),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("merchant_id", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # IN_PROGRESS | DONE
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("response_body", sa.LargeBinary, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

faults = sa.Table(
    "faults",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("method", sa.String(8), nullable=True),
    sa.Column("path_prefix", sa.String(256), nullable=True),
    sa.Column("remaining", sa.Integer, nullable=False),
)


#: The notification outbox (paylater_sdk.issuer.delivery): written in the transaction of the
#: state change it announces, delivered later.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("merchant_id", sa.String(64), nullable=False, index=True),
    sa.Column("notify_url", sa.Text, nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("original_type", sa.String(32), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("resource", sa.Text, nullable=False),  # the JSON of the resource, unencrypted
    # times are epoch seconds (UTC), as everywhere in the issuer's schema
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    # attempts made before the current round of retries (an operator's redeliver starts one)
    sa.Column("round_start", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # Wall-clock nanoseconds at enqueue: orders events of the same second (FIFO delivery).
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=True),
    sa.Column("delivered_at", sa.BigInteger, nullable=True),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    # The checkout's out_trade_no the event is about (the list filter), and the position
    # in the merchant's event list, numbered in commit order (domain/listing.py).
    sa.Column("out_trade_no", sa.String(64), nullable=True),
    sa.Column("list_seq", sa.BigInteger, nullable=True),  # always set: see 0005
    sa.Index("ix_notifications_due", "state", "next_attempt_at"),
    sa.Index("uq_notifications_list_seq", "merchant_id", "list_seq", unique=True),
    sa.Index("ix_notifications_list_state", "merchant_id", "state", "list_seq"),
    sa.Index("ix_notifications_list_trade_no", "merchant_id", "out_trade_no", "list_seq"),
    sa.Index("ix_notifications_list_created", "merchant_id", "created_at"),
)

#: The last list position given out per merchant. Numbering takes this row's lock, held
#: until commit, so positions are handed out in commit order (see domain/listing.py).
list_counters = sa.Table(
    "list_counters",
    metadata,
    sa.Column("merchant_id", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

notification_attempts = sa.Table(
    "notification_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("notification_id", sa.String(64), sa.ForeignKey("notifications.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("attempted_at", sa.BigInteger, nullable=False),
    # DELIVERED (2xx), REJECTED (other status), ERROR (no answer), DROPPED (test fault),
    # BLOCKED (the URL is no longer under a registered prefix: not sent, given up)
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("duplicated", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_notification_attempts_notification", "notification_id"),
)


def to_epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass a timezone-aware UTC datetime")
    return int(moment.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def rfc3339(epoch: int | None) -> str | None:
    """A stored epoch as the API's RFC 3339 time (``2026-11-29T19:02:25+00:00``), or None."""
    return None if epoch is None else from_epoch(epoch).isoformat()


_READ_ONLY = "paylater_read_only"


def reading(engine: Engine) -> sa.Connection:
    """A connection for reads only (``with reading(engine) as conn: ...``).

    On SQLite its transaction is a plain deferred ``BEGIN``, a consistent WAL snapshot that
    runs alongside writers; every other transaction takes the write lock at ``BEGIN``.
    """
    return engine.connect().execution_options(**{_READ_ONLY: True})


def log_failure(logger: logging.Logger, message: str, exc: BaseException, *args: object) -> None:
    """Log an unexpected error; a database error without its message or traceback.

    ``hide_parameters`` keeps bound values out of SQLAlchemy's messages, but the driver's
    own text can still quote them (PostgreSQL: ``Key (buyer_token)=(bt_...) already
    exists``), and so can a traceback's rendering of the exception. For those, only the
    error class, the SQLSTATE and the statement (with placeholders) are logged.
    """
    if isinstance(exc, sa.exc.DBAPIError):
        orig = exc.orig
        state = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
        logger.error(
            message + ": database error %s (%s) in: %s",
            *args,
            type(orig).__name__,
            state or "-",
            (exc.statement or "")[:300],
        )
    else:
        logger.error(message, *args, exc_info=exc)


def _enable_wal(cur: Any, timeout: float = 30.0) -> None:
    """Switch the file to WAL, waiting out other connections doing the same.

    Two connections switching a fresh file at once would deadlock, so SQLite answers one
    of them "database is locked" at once, without its busy timeout (several processes
    starting together on a new file hit this): retry until ``timeout``.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL, a busy timeout and immediate transactions."""
    # hide_parameters: a database error must never log bound values (API keys, tokens).
    if not url.startswith("sqlite"):
        engine = sa.create_engine(url, hide_parameters=True)
        ping_when_idle(engine)  # not pool_pre_ping: see storage/liveness.py
        return engine
    if url in ("sqlite://", "sqlite:///:memory:"):
        raise ValueError(
            "an in-memory SQLite database cannot be shared between threads; "
            "use a file URL such as sqlite:////tmp/issuer.db"
        )
    engine = sa.create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
    writers = WriterQueue(engine, wait=30.0)  # see storage/writers.py

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        _enable_wal(cur)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get(_READ_ONLY):
            _driver_begin(conn, "BEGIN")  # a WAL snapshot: never waits for a writer
        else:
            writers.enter(conn)
            try:
                _driver_begin(conn, "BEGIN IMMEDIATE")
            except BaseException:
                writers.leave(conn)
                raise

    return engine


def _driver_begin(conn: sa.Connection, sql: str) -> None:
    """Run ``BEGIN`` on the driver's connection, not through ``exec_driver_sql``.

    Every issuer transaction starts here, and SQLAlchemy's statement path (events, an
    execution context, a result) cost about a third of an empty transaction; a ``BEGIN``
    needs none of it. A driver error is raised as SQLAlchemy's, without parameters, as
    ``exec_driver_sql`` would have raised it.
    """
    try:
        conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(
            sql, None, exc, sqlite3.Error, hide_parameters=True, dialect=conn.dialect
        ) from exc


# --- the WeChat Pay v3 face (paylater_sdk.issuer.domain.wechat; migration 0004) ----------------

#: A merchant that speaks WeChat Pay v3: its APIv3 key and the key mode it verifies answers in
#: (``certificate``: platform certificates; ``public_key``: a ``PUB_KEY_ID_...`` key).
wechat_merchants = sa.Table(
    "wechat_merchants",
    metadata,
    sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.id"), primary_key=True),
    sa.Column("apiv3_key", sa.String(64), nullable=False),
    sa.Column("key_mode", sa.String(16), nullable=False),
    sa.Column("appid", sa.String(32), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

#: The platform keys WeChat Pay signs with, one certificate and one public key id each.
wechat_platform_keys = sa.Table(
    "wechat_platform_keys",
    metadata,
    sa.Column("serial", sa.String(64), primary_key=True),  # the certificate serial (hex)
    sa.Column("public_key_id", sa.String(64), nullable=False, unique=True),
    sa.Column("private_pem", sa.Text, nullable=False),
    sa.Column("certificate_pem", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

#: Test buyers as WeChat names them: an ``openid`` and the SM3 hash of the phone number.
wechat_payers = sa.Table(
    "wechat_payers",
    metadata,
    sa.Column("buyer_id", sa.String(40), sa.ForeignKey("buyers.id"), primary_key=True),
    sa.Column("openid", sa.String(64), nullable=False, unique=True),
    sa.Column("phone_hash", sa.String(64), nullable=False, unique=True),
)

#: A checkout made through ``/v3``: its prepay id, transaction id, payer and subsidy.
wechat_transactions = sa.Table(
    "wechat_transactions",
    metadata,
    sa.Column("checkout_id", sa.String(40), sa.ForeignKey("checkouts.id"), primary_key=True),
    sa.Column("merchant_id", sa.String(64), nullable=False),
    sa.Column("appid", sa.String(32), nullable=False),
    sa.Column("trade_type", sa.String(16), nullable=False),
    sa.Column("prepay_id", sa.String(64), nullable=False, unique=True),
    sa.Column("transaction_id", sa.String(32), nullable=False, unique=True),
    sa.Column("buyer_id", sa.String(40), nullable=True),  # APP: named when the buyer pays
    sa.Column("attach", sa.String(128), nullable=True),
    sa.Column("subsidy_json", sa.Text, nullable=True),  # {installments: percent}
    sa.Column("installments", sa.Integer, nullable=True),  # the plan the buyer chose
    sa.Column("success_time", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

#: A refund made through ``/v3``: WeChat's refund id and where REFUND.SUCCESS goes.
wechat_refunds = sa.Table(
    "wechat_refunds",
    metadata,
    # no foreign key: the example shop's tests drop a "refunds" table of their own by name
    # on the shared test database, and a dependent constraint would stop them
    sa.Column("refund_id", sa.String(40), primary_key=True),
    sa.Column("wx_refund_id", sa.String(32), nullable=False, unique=True),
    sa.Column("checkout_id", sa.String(40), nullable=False, index=True),
    sa.Column("notify_url", sa.String(512), nullable=True),
)

#: Trade bills asked for (``GET /v3/bill/tradebill``): the file is fixed when asked for, so
#: its hash still matches when it is downloaded.
wechat_bills = sa.Table(
    "wechat_bills",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("merchant_id", sa.String(64), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("gzip", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

#: A merchant's settlement bill of one business day (docs/settlement.md), fixed when first
#: asked for: the gzip bytes and their SHA-256, so every download is the same bytes
#: (revision 0009). ``id`` is the unguessable bill id of the download URL.
bills = sa.Table(
    "bills",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("merchant_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # TRADE
    sa.Column("bill_date", sa.String(10), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("merchant_id", "kind", "bill_date", name="uq_bills_day"),
)
