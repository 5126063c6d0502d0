"""Test buyers and the credit checks (the over-indebtedness guard).

The checks run twice: as a preview (``POST /v1/credit/eligibility``, which answers only
``eligible`` and reason codes, never the limit or the balance) and again, atomically, when
the buyer authorizes (the conditional hold in :mod:`.ledger`). Magic buyers decline
through the real checks, not a special case: each is configured so that exactly one
check fails.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs
import sqlalchemy as sa

from ...lifecycle import BuyerStatus, CheckoutState
from ...money import Money
from ..storage.pii import PhoneVault, mask_phone
from ..storage.records import BuyerRow
from ..storage.schema import buyers, orders, to_epoch
from . import ledger

__all__ = [
    "MAGIC_BUYERS",
    "REASON_ORDER",
    "TEST_CODE",
    "TestBuyer",
    "committed_monthly",
    "credit_reasons",
    "insert_buyer",
    "line_open",
    "monthly_payment",
    "over_dti",
    "phone_taken",
    "preview_amount",
    "refresh_overdue",
]

#: The fixed sign-in code of every test buyer on the consent page.
TEST_CODE = "123456"

#: Reason codes in the order they are reported (the first is the decline reason).
REASON_ORDER = (
    "ACCOUNT_FROZEN",
    "OVERDUE",
    "AMOUNT_OUT_OF_RANGE",
    "OVER_SINGLE_PURCHASE_LIMIT",
    "DEBT_TO_INCOME",
    "INSUFFICIENT_LIMIT",
)

#: token -> (phone, buyer settings); recreated on start and on reset in test mode.
MAGIC_BUYERS: dict[str, tuple[str, dict[str, Any]]] = {
    "bt_decline_insufficient_limit": ("19900000001", {"limit": 0}),
    "bt_decline_frozen": ("19900000002", {"limit": 10_000_000, "status": BuyerStatus.FROZEN}),
    "bt_decline_overdue": ("19900000003", {"limit": 10_000_000, "overdue": True}),
    "bt_decline_over_single_purchase_limit": (
        "19900000004",
        {"limit": 10_000_000, "single_purchase_max": 1},
    ),
}


@attrs.frozen(repr=False)
class TestBuyer:
    """A sandbox buyer; sign in on the consent page with ``phone`` and ``test_code``."""

    __test__ = False  # not a pytest test class

    id: str
    buyer_token: str
    phone: str
    test_code: str = TEST_CODE

    def __repr__(self) -> str:  # buyer tokens are credentials, phones personal data
        token = f"{self.buyer_token[:6]}..."
        phone = mask_phone(self.phone)
        return f"TestBuyer(id={self.id!r}, buyer_token={token!r}, phone={phone!r})"


def line_open(credit_limit: int, line_opened_at: int | None) -> bool:
    """Whether a buyer's row shows a credit line: a limit, or a line opened (even at 0)."""
    return credit_limit > 0 or line_opened_at is not None


def phone_taken(conn: sa.Connection, vault: PhoneVault, phone: str) -> bool:
    query = sa.select(buyers.c.id).where(buyers.c.phone_hash == vault.digest(phone))
    return conn.execute(query).first() is not None


def _new_phone(conn: sa.Connection, vault: PhoneVault) -> str:
    while True:
        phone = "138" + "".join(secrets.choice("0123456789") for _ in range(8))
        if not phone_taken(conn, vault, phone):
            return phone


def insert_buyer(
    conn: sa.Connection,
    vault: PhoneVault,
    *,
    limit: Money,
    now: datetime,
    phone: str | None = None,
    single_purchase_max: Money | None = None,
    status: str = BuyerStatus.ACTIVE,
    overdue: bool = False,
    buyer_id: str | None = None,
    token: str | None = None,
    declared: dict[str, Any] | None = None,
) -> TestBuyer:
    """Insert a buyer and open its ledger account; ``declared``: extra ``buyers`` columns
    of an application (income, debt payments, employment, when the line opened)."""
    if limit.minor < 0:
        raise ValueError("a credit limit cannot be negative")
    if status not in tuple(BuyerStatus):
        raise ValueError("status must be 'ACTIVE' or 'FROZEN'")
    if single_purchase_max is not None:
        if single_purchase_max.currency != limit.currency:
            raise ValueError("single_purchase_max must be in the limit's currency")
        if single_purchase_max.minor < 0:
            raise ValueError("single_purchase_max cannot be negative")
    buyer = TestBuyer(
        id=buyer_id or f"byr_{secrets.token_hex(12)}",
        buyer_token=token or f"bt_{secrets.token_urlsafe(24)}",
        phone=phone or _new_phone(conn, vault),
    )
    conn.execute(
        buyers.insert().values(
            id=buyer.id,
            buyer_token=buyer.buyer_token,
            phone_hash=vault.digest(buyer.phone),
            phone_enc=vault.seal(buyer.phone),
            test_code=buyer.test_code,
            currency=limit.currency,
            credit_limit=limit.minor,
            available=limit.minor,
            held=0,
            outstanding=0,
            single_purchase_max=None if single_purchase_max is None else single_purchase_max.minor,
            status=status,
            overdue_flag=overdue,
            overdue=overdue,
            created_at=to_epoch(now),
            **(declared or {}),
        )
    )
    ledger.open_account(
        conn, buyer_id=buyer.id, currency=limit.currency, limit=limit.minor, now=now
    )
    return buyer


#: Eligibility answers for the amount rounded up to this ladder (x 10^k major units), so
#: that repeated questions cannot pin a buyer's balance down to the fen.
_LADDER = (10, 20, 30, 50, 70)


def preview_amount(amount: Money) -> Money:
    """``amount`` rounded up to the next rung of 1, 2, 3, 5, 7 x 10^k (major units).

    The eligibility preview checks the balance against this, never the exact amount:
    an answer then flips only at a rung, and bisection learns at best which two rungs
    the balance lies between. The preview is conservative (it may say no where the
    authorization, which checks the exact amount, would say yes), never optimistic.
    """
    unit = 10**amount.exponent  # minor units per major unit
    scale = unit // 10 if unit >= 10 else 1
    rung = 0
    while True:
        for step in _LADDER:
            candidate = step * scale * 10**rung
            if candidate >= amount.minor:
                return Money.from_minor(candidate, amount.currency)
        rung += 1


def credit_reasons(
    buyer: BuyerRow, amount: Money, *, in_range: bool, over_dti: bool = False
) -> list[str]:
    """Every reason this buyer cannot borrow ``amount`` now, in :data:`REASON_ORDER`.

    ``over_dti``: the plan's regular payment would take the buyer's debt-to-income over
    the cap (:func:`over_dti`).
    """
    found: set[str] = set()
    if over_dti:
        found.add("DEBT_TO_INCOME")
    if buyer.status != BuyerStatus.ACTIVE:
        found.add("ACCOUNT_FROZEN")
    if buyer.overdue:
        found.add("OVERDUE")
    if not in_range or amount.currency != buyer.currency:
        found.add("AMOUNT_OUT_OF_RANGE")
    if buyer.single_purchase_max is not None and amount.minor > buyer.single_purchase_max:
        found.add("OVER_SINGLE_PURCHASE_LIMIT")
    if amount.minor > buyer.available:
        found.add("INSUFFICIENT_LIMIT")
    return [code for code in REASON_ORDER if code in found]


def monthly_payment(quote: Mapping[str, Any]) -> int:
    """A plan's regular payment as a monthly figure (minor units, rounded up): biweekly
    payments fall 26 times a year, so a month carries 26/12 of one."""
    payment = int(quote["regular_payment"]["value"])
    if quote.get("frequency") == "BIWEEKLY":
        return -(-payment * 26 // 12)
    return payment


_OPEN = (CheckoutState.AUTHORIZED, CheckoutState.CAPTURED, CheckoutState.PARTIALLY_REFUNDED)


def committed_monthly(conn: sa.Connection, buyer_id: str) -> int:
    """The monthly payments of the buyer's open loans with this issuer (authorized, or
    captured with an installment still to pay)."""
    rows = conn.execute(
        sa.select(orders.c.state, orders.c.plan_json, orders.c.next_due_on).where(
            orders.c.buyer_id == buyer_id, orders.c.state.in_(_OPEN)
        )
    ).all()
    return sum(
        monthly_payment(json.loads(row.plan_json))
        for row in rows
        if row.state == CheckoutState.AUTHORIZED or row.next_due_on is not None
    )


def over_dti(conn: sa.Connection, buyer: BuyerRow, new_monthly: int, cap: Decimal) -> bool:
    """Would a new plan paying ``new_monthly`` take the buyer's debt-to-income over ``cap``?

    (declared debt payments elsewhere + this issuer's open plans + the new plan) / declared
    income. Only for buyers who declared an income (an application); a buyer whose limit
    was typed in through ``/_test/buyers`` keeps the checks of before.
    """
    if buyer.monthly_income is None:
        return False
    debts = (buyer.monthly_debt_payments or 0) + committed_monthly(conn, buyer.id)
    return bool(Decimal(debts + new_monthly) > cap * buyer.monthly_income)


def refresh_overdue(conn: sa.Connection, today: date, buyer_id: str | None = None) -> None:
    """A buyer is overdue when flagged so, or when an unpaid installment's due date passed.

    Two set-based UPDATEs over the indexed ``orders.next_due_on``, so this stays cheap
    enough to run on every sweep. A repayment or refund refreshes only its own buyer
    (``buyer_id``): touching every late buyer's row inside such a transaction would make
    concurrent transactions lock the same rows in different orders (deadlocks).
    """
    params = {"today": today.isoformat(), "who": buyer_id}
    for statement in _overdue_updates(scoped=buyer_id is not None):
        conn.execute(statement, params)


@functools.cache
def _overdue_updates(*, scoped: bool) -> tuple[sa.Update, sa.Update]:
    """The two UPDATEs of :func:`refresh_overdue` (``:today``; ``:who`` when ``scoped``),
    built once per scope (see :mod:`..storage.prepared`)."""
    late = (
        sa.select(orders.c.buyer_id)
        .where(
            orders.c.state.in_((CheckoutState.CAPTURED, CheckoutState.PARTIALLY_REFUNDED)),
            orders.c.next_due_on < sa.bindparam("today"),
        )
        .distinct()
    )
    only: sa.ColumnElement[bool] = sa.true()
    if scoped:
        only = buyers.c.id == sa.bindparam("who")
        late = late.where(orders.c.buyer_id == sa.bindparam("who"))
    flag = (
        buyers.update()
        .where(only, buyers.c.overdue == sa.false(), buyers.c.id.in_(late))
        .values(overdue=True)
    )
    clear = (
        buyers.update()
        .where(
            only,
            buyers.c.overdue == sa.true(),
            buyers.c.overdue_flag == sa.false(),
            buyers.c.id.not_in(late),
        )
        .values(overdue=False)
    )
    return flag, clear
