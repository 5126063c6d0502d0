"""A buyer's month: the bill (statement) and the delinquency status, both pure views.

Both read the buyer's :class:`OrderAccount` values as of a day; neither stores anything.
The issuer posts penalty at each statement by storing :meth:`OrderAccount.penalty_posted`
(the exact accrual rounded half-up), so a bill never shows a figure the ledger lacks.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import attrs

from ..lifecycle import DelinquencyBucket
from ..money import Money
from ._account import InstallmentState, OrderAccount, check_day
from ._kinds import ServicingError
from ._policy import DEFAULT_POLICY, Policies, ServicingPolicy, policy_of

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@attrs.frozen
class DelinquencyStatus:
    """How late a buyer is on ``on``: the oldest past-due days, bucket, freeze, write-offs.

    ``frozen`` is true while anything is past due beyond the grace period (new purchases
    decline); paying every past-due amount cures it. ``write_off`` names the orders at or
    beyond ``policy.write_off_days`` past due.
    """

    on: date
    days_past_due: int
    bucket: DelinquencyBucket
    past_due: Money
    frozen: bool
    write_off: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values (the test API's ``delinquency``)."""
        return {
            "days_past_due": self.days_past_due,
            "bucket": self.bucket.value,
            "past_due": self.past_due.to_json(),
            "frozen": self.frozen,
            "write_off": list(self.write_off),
        }


def _open(accounts: Sequence[OrderAccount], on: date) -> list[OrderAccount]:
    if not all(isinstance(a, OrderAccount) for a in accounts):
        raise ServicingError("accounts must be OrderAccounts", code="INVALID_FIELD")
    return [a for a in accounts if a.schedule.start <= on]


def delinquency(
    accounts: Sequence[OrderAccount], *, on: date, policy: Policies = DEFAULT_POLICY
) -> DelinquencyStatus:
    """The buyer's delinquency on ``on`` over ``accounts`` (one order: pass just that one).

    Each order is held to its own product's grace and write-off days (``policy`` by order
    id); the buyer is frozen while any order is past its grace."""
    on = check_day(on, "on")
    currency = accounts[0].currency if accounts else "CNY"
    days, past, write_off, frozen = 0, 0, [], False
    for account in _open(accounts, on):
        mine = policy_of(policy, account.order_id)
        states = account.states(on, mine)
        late = max((s.days_past_due for s in states), default=0)
        days = max(days, late)
        frozen = frozen or late > mine.grace_days
        past += sum(s.owed.minor for s in states if s.past_due)
        if late >= mine.write_off_days:
            write_off.append(account.order_id)
    return DelinquencyStatus(
        on=on,
        days_past_due=days,
        bucket=DelinquencyBucket.for_days_past_due(days),
        past_due=Money._of_minor(past, currency),
        frozen=frozen,
        write_off=tuple(write_off),
    )


@attrs.frozen
class StatementLine:
    """One installment due in the statement's month, as of the statement day."""

    order_id: str
    installment: int
    due_date: date
    amount: Money
    paid: Money
    owed: Money

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "order_id": self.order_id,
            "installment": self.installment,
            "due_date": self.due_date.isoformat(),
            "amount": self.amount.to_json(),
            "paid": self.paid.to_json(),
            "owed": self.owed.to_json(),
        }


@attrs.frozen
class Statement:
    """The bill of ``month`` (``"YYYY-MM"``) as of ``as_of``.

    ``installments`` are those due in the month; ``carried_over`` is what is still owed on
    earlier months' installments; ``penalty_posted`` and ``late_fees`` are what was posted in
    the month; ``payments_received`` the repayments dated in it; ``amount_due`` everything
    owed on installments due up to the month's end (penalty and late fees included);
    ``due_date`` the month's last due date (with a fixed ``due_day`` the repayment day).
    """

    month: str
    as_of: date
    installments: tuple[StatementLine, ...]
    carried_over: Money
    penalty_posted: Money
    late_fees: Money
    payments_received: Money
    amount_due: Money
    due_date: date | None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values (the test API's ``statement``)."""
        return {
            "month": self.month,
            "as_of": self.as_of.isoformat(),
            "installments": [line.to_json() for line in self.installments],
            "carried_over": self.carried_over.to_json(),
            "penalty_posted": self.penalty_posted.to_json(),
            "late_fees": self.late_fees.to_json(),
            "payments_received": self.payments_received.to_json(),
            "amount_due": self.amount_due.to_json(),
            "due_date": None if self.due_date is None else self.due_date.isoformat(),
        }


def _month(value: object) -> tuple[date, date]:
    match = _MONTH.match(value) if isinstance(value, str) else None
    if match is None:
        raise ServicingError(
            f"month must be 'YYYY-MM', got {value!r}", code="INVALID_FIELD", field="month"
        )
    year, month = int(match.group(1)), int(match.group(2))
    if year < 1:
        raise ServicingError("month must be after year 0", code="INVALID_FIELD", field="month")
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _posted_before(account: OrderAccount, day: date, policy: ServicingPolicy) -> list[int]:
    """(penalty, late fee) posted through ``day`` (zeros before the purchase)."""
    if day < account.schedule.start:
        return [0, 0]
    states = account.states(day, policy)
    return [sum(s.penalty.minor for s in states), sum(s.late_fee.minor for s in states)]


def build_statement(
    accounts: Sequence[OrderAccount],
    month: str,
    *,
    as_of: date | None = None,
    policy: Policies = DEFAULT_POLICY,
) -> Statement:
    """The bill of ``month`` over the buyer's ``accounts`` as of ``as_of`` (default: the
    month's last day; it may not be before the month's first)."""
    first, last = _month(month)
    day = last if as_of is None else check_day(as_of, "as_of")
    if day < first:
        raise ServicingError(
            f"a statement for {month} cannot be as of {day}", code="INVALID_DATE", field="as_of"
        )
    currency = accounts[0].currency if accounts else "CNY"
    lines: list[StatementLine] = []
    carried = penalty = late = received = due = 0
    through = min(day, last)
    for account in _open(accounts, through):
        mine = policy_of(policy, account.order_id)
        states: list[InstallmentState] = account.states(through, mine)
        for s in states:
            inst = s.installment
            if inst.due_date > last:
                continue
            due += s.owed.minor
            if inst.due_date < first:
                carried += s.owed.minor
                continue
            paid = s.paid_fee + s.paid_interest + s.paid_principal
            owed = inst.amount - paid
            lines.append(
                StatementLine(account.order_id, inst.number, inst.due_date, inst.amount, paid, owed)
            )
        now = [sum(s.penalty.minor for s in states), sum(s.late_fee.minor for s in states)]
        before = _posted_before(account, first - timedelta(days=1), mine)
        penalty += now[0] - before[0]
        late += now[1] - before[1]
        received += sum(p.amount.minor for p in account.payments if first <= p.on <= through)
    bought = {a.order_id: a.schedule.start for a in accounts}  # one due day: oldest order first
    lines.sort(
        key=lambda line: (line.due_date, bought[line.order_id], line.order_id, line.installment)
    )

    def m(minor: int) -> Money:
        return Money._of_minor(minor, currency)

    return Statement(
        month=month,
        as_of=day,
        installments=tuple(lines),
        carried_over=m(carried),
        penalty_posted=m(penalty),
        late_fees=m(late),
        payments_received=m(received),
        amount_due=m(due),
        due_date=max((line.due_date for line in lines), default=None),
    )
