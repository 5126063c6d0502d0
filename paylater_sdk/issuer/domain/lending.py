"""The issuer's credit desk (``issuer.lending``): applications, accounts, decision records.

A component of the :class:`~.issuer.Issuer` like the order book, so that every entry point
(the test API, the buyer pages, the admin page, the CLI) goes through the same rules; each
public method is one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...money import Money
from ..config import IssuerConfig
from ..storage.pii import PhoneVault
from ..storage.schema import buyers, reading, to_epoch
from . import applications, credit, privacy, review, risk
from .applications import Applied
from .scorecard import Application, CreditModel, ScorecardModel, derived_profile

__all__ = ["Lending"]


#: Built once (see :mod:`..storage.prepared`): the consent page asks on every sign-in.
_LINE = sa.select(buyers.c.credit_limit, buyers.c.line_opened_at).where(
    buyers.c.id == sa.bindparam("buyer_id")
)


class LendingHost(Protocol):
    """What the credit desk needs from the issuer that owns it."""

    @property
    def engine(self) -> Engine: ...

    @property
    def config(self) -> IssuerConfig: ...

    @property
    def phones(self) -> PhoneVault: ...

    def now(self) -> datetime: ...


class Lending:
    """Credit applications and what is held about each buyer's line."""

    def __init__(self, host: LendingHost, model: CreditModel | None = None) -> None:
        self._host = host
        self.model: CreditModel = model or ScorecardModel(host.config.credit)

    def apply(
        self,
        *,
        phone: str,
        monthly_income: Money,
        monthly_debt_payments: Money,
        employment: Any,
        consent: bool,
        profile: Any = None,
    ) -> Applied:
        """Decide on an application at once and open the line if approved.

        ``profile`` (a :class:`~.scorecard.Profile`) stands in for the credit bureau; when
        absent it is derived from the phone, so one phone always gets one decision.
        """
        application = Application(
            monthly_income=monthly_income,
            monthly_debt_payments=monthly_debt_payments,
            employment=employment,
            consent=consent,
            profile=profile or derived_profile(phone),
        )
        host = self._host
        with host.engine.begin() as conn:
            return applications.apply(
                conn,
                host.phones,
                model=self.model,
                policy=host.config.credit,
                phone=phone,
                application=application,
                now=host.now(),
            )

    def account(self, buyer_id: str) -> dict[str, Any]:
        """The buyer's line (limit, available, status, open orders), phone masked."""
        with reading(self._host.engine) as conn:
            return applications.account_view(conn, self._host.phones, buyer_id)

    def decisions(self, buyer_id: str) -> list[dict[str, Any]]:
        """The buyer's decision record, newest first."""
        with reading(self._host.engine) as conn:
            return applications.decision_history(conn, buyer_id)

    def record(self, buyer_id: str) -> dict[str, Any]:
        """The admin view: the account and its whole decision record."""
        with reading(self._host.engine) as conn:
            view = applications.account_view(conn, self._host.phones, buyer_id)
            view["decisions"] = applications.decision_history(conn, buyer_id)
        return view

    def seen_device(self, device_id: str, buyer_id: str) -> None:
        """A buyer signed in from a device (the consent page's device cookie): SHARED_DEVICE."""
        host = self._host
        if not host.config.risk_rules:
            return
        with host.engine.begin() as conn:
            risk.seen_device(conn, dict(host.config.risk_rules), device_id, buyer_id, host.now())

    def alerts(self, **filters: Any) -> list[dict[str, Any]]:
        """Risk alerts, newest first (filters: ``rule``, ``subject``, ``action``, ``limit``)."""
        with reading(self._host.engine) as conn:
            return risk.alerts(conn, **filters)

    def review_due(self) -> list[str]:
        """Run the periodic limit review for every buyer due; the notes recorded."""
        host = self._host
        now = host.now()
        notes = []
        for buyer_id in review.due_for_review(host.engine, now, host.config.review_days):
            with host.engine.begin() as conn:
                note = review.review_buyer(
                    conn, buyer_id, model=self.model, policy=host.config.credit, now=now
                )
            if note is not None:
                notes.append(note)
        return notes

    def latest_review(self, buyer_id: str) -> str | None:
        """The note of the buyer's latest limit review (shown on /account)."""
        for decision in self.decisions(buyer_id):
            if decision["kind"] == "REVIEW":
                note: str | None = decision["note"]
                return note
        return None

    def export(self, buyer_id: str) -> dict[str, Any]:
        """Everything held about the buyer (right of access), the phone in full."""
        with reading(self._host.engine) as conn:
            return privacy.export_buyer(conn, self._host.phones, buyer_id)

    def close(self, buyer_id: str) -> None:
        """Close a line with nothing held or owed (its data can then be purged)."""
        with self._host.engine.begin() as conn:
            privacy.close_account(conn, buyer_id, self._host.now())

    def purge(self, closed_before: datetime) -> list[str]:
        """Erase the personal data of accounts closed before ``closed_before``; the ids."""
        with self._host.engine.begin() as conn:
            return privacy.purge_closed(conn, to_epoch(closed_before), self._host.now())

    def has_line(self, buyer_id: str) -> bool:
        """Whether the buyer has a credit line (the consent page offers 开通分付 if not)."""
        with reading(self._host.engine) as conn:
            row = conn.execute(_LINE, {"buyer_id": buyer_id}).first()
        return row is not None and credit.line_open(row.credit_limit, row.line_opened_at)
