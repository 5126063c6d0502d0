"""Buyers as the issuer sees them before a purchase: test buyers, quotes, eligibility.

Kept apart from :class:`~.issuer.Issuer` (which composes a :class:`Buyers` and exposes its
operations under the names every caller uses: ``issuer.create_buyer``,
``issuer.buyer_by_phone``, ``issuer.quote``, ``issuer.eligibility``). Each operation is
one transaction; phones are only ever looked up by their keyed hash.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ...errors import ConflictError, NotFoundError
from ...installments import PlanQuote, as_low_as
from ...lifecycle import BuyerStatus
from ...money import Money
from ..storage.pii import PhoneVault, mask_phone
from ..storage.quickread import QuickRead
from ..storage.records import BuyerRow
from ..storage.schema import buyers, reading, to_epoch
from . import credit, ratelimit
from .credit import TestBuyer

if TYPE_CHECKING:
    from .issuer import Issuer

__all__ = ["Buyers", "SignedIn", "ensure_magic_buyers"]


def ensure_magic_buyers(conn: sa.Connection, phones: PhoneVault, now: datetime) -> None:
    """Create the documented test-mode buyers (``bt_...`` tokens) that are missing."""
    known = set(
        conn.execute(
            sa.select(buyers.c.buyer_token).where(
                buyers.c.buyer_token.in_(list(credit.MAGIC_BUYERS))
            )
        ).scalars()
    )
    for token, (phone, settings) in credit.MAGIC_BUYERS.items():
        if token in known:
            continue
        spm = settings.get("single_purchase_max")
        credit.insert_buyer(
            conn,
            phones,
            limit=Money.from_minor(settings["limit"], "CNY"),
            now=now,
            phone=phone,
            single_purchase_max=None if spm is None else Money.from_minor(spm, "CNY"),
            status=settings.get("status", BuyerStatus.ACTIVE),
            overdue=settings.get("overdue", False),
            buyer_id="byr_" + token.removeprefix("bt_"),
            token=token,
        )


# Built once (see :mod:`..storage.prepared`): the consent page runs both.
_BY_TOKEN = sa.select(buyers).where(buyers.c.buyer_token == sa.bindparam("token"))
_BY_PHONE = sa.select(buyers).where(buyers.c.phone_hash == sa.bindparam("digest"))
# One statement each, so quick reads (no transaction; see :mod:`..storage.quickread`).
_SIGN_IN = QuickRead(
    sa.select(
        buyers.c.id, buyers.c.test_code, buyers.c.credit_limit, buyers.c.line_opened_at
    ).where(buyers.c.phone_hash == sa.bindparam("digest"))
)
#: The magic buyers' hashes go in as one parameter each (an expanding ``IN`` list would
#: be compiled again on every call).
_MAGIC_PARAMS = tuple(f"magic_{i}" for i in range(len(credit.MAGIC_BUYERS)))
_HINTS = QuickRead(
    sa.select(buyers.c.phone_enc, buyers.c.test_code)
    .where(
        buyers.c.status == BuyerStatus.ACTIVE,
        buyers.c.phone_hash.not_in([sa.bindparam(name) for name in _MAGIC_PARAMS]),
        buyers.c.phone_enc.is_not(None),
    )
    .order_by(buyers.c.created_at.desc(), buyers.c.id.desc())
    .limit(sa.bindparam("n"))
)


@attrs.frozen
class SignedIn:
    """A buyer who signed in on the consent page, and whether they have a credit line yet
    (the page offers 开通分付 if not): both from the one row the sign-in read."""

    buyer_id: str
    has_line: bool


class Buyers:
    """The issuer's buyer operations (composed by :class:`~.issuer.Issuer`)."""

    def __init__(self, issuer: Issuer) -> None:
        self._issuer = issuer
        self._magic_hashes: dict[str, str] | None = None

    def _magic(self) -> dict[str, str]:
        """The magic buyers' phone hashes, as ``_HINTS`` parameters (the hash key is fixed
        for the issuer's life, so they are worked out once)."""
        if self._magic_hashes is None:
            phones = [phone for phone, _ in credit.MAGIC_BUYERS.values()]
            digests = [self._issuer.phones.digest(phone) for phone in phones]
            self._magic_hashes = dict(zip(_MAGIC_PARAMS, digests, strict=True))
        return self._magic_hashes

    def create(
        self,
        *,
        limit: Money,
        phone: str | None = None,
        single_purchase_max: Money | None = None,
        status: str = BuyerStatus.ACTIVE,
        overdue: bool = False,
    ) -> TestBuyer:
        """A buyer with a line of ``limit`` (test mode's ``/_test/buyers``, the demo, the
        kit); a phone already registered is a ``DUPLICATE_PHONE`` conflict, races included."""
        issuer = self._issuer
        try:
            with issuer.engine.begin() as conn:
                if phone is not None and credit.phone_taken(conn, issuer.phones, phone):
                    raise _duplicate_phone(phone)
                return credit.insert_buyer(
                    conn,
                    issuer.phones,
                    limit=limit,
                    now=issuer.now(),
                    phone=phone,
                    single_purchase_max=single_purchase_max,
                    status=status,
                    overdue=overdue,
                )
        except IntegrityError:  # the same phone registered concurrently
            if phone is None:
                raise
            raise _duplicate_phone(phone) from None

    def sign_in_hints(self, limit: int = 3) -> list[tuple[str, str]]:
        """(phone, code) of the newest buyers that can buy, magic buyers left out: the
        test-mode consent page's sign-in hint (test mode only: shown in full so a tester
        can sign in)."""
        issuer = self._issuer
        rows = _HINTS.rows(issuer.engine, n=limit, **self._magic())
        return [(issuer.phones.open(row.phone_enc), row.test_code) for row in rows]

    def sign_in(self, phone: str, code: str) -> SignedIn | None:
        """The consent page's sign-in: the buyer whose phone and test code these are, or
        None (an unknown phone and a wrong code look the same to the caller)."""
        issuer = self._issuer
        found = _SIGN_IN.rows(issuer.engine, digest=issuer.phones.digest(phone))
        row = found[0] if found else None
        if row is None or not hmac.compare_digest(str(row.test_code).encode(), code.encode()):
            return None
        has_line = credit.line_open(row.credit_limit, row.line_opened_at)
        return SignedIn(buyer_id=row.id, has_line=has_line)

    def by_phone(self, phone: str) -> TestBuyer | None:
        """The buyer with this phone number, found by its keyed hash (never stored in clear)."""
        issuer = self._issuer
        digest = issuer.phones.digest(phone)
        with reading(issuer.engine) as conn:
            row = conn.execute(_BY_PHONE, {"digest": digest}).first()
        if row is None:
            return None
        return TestBuyer(
            id=row.id, buyer_token=row.buyer_token, phone=phone, test_code=row.test_code
        )

    def quote(self, amount: Money) -> dict[str, Any]:
        """Every offered plan for ``amount`` today, and the as-low-as line of the cheapest."""
        issuer = self._issuer
        now = issuer.now()
        plans = issuer.orders.quotes(amount, issuer.offers, now)
        same = [o for o in issuer.offers if o.min_amount.currency == amount.currency]
        low = (
            as_low_as(amount, same, start=now.date(), apr_cap=issuer.config.apr_cap)
            if same
            else None
        )
        return {
            "amount": amount.to_json(),
            "plans": [q.to_json() for q in plans],
            "as_low_as": None if low is None else low.to_json(),
        }

    def eligibility(
        self, buyer_token: str, amount: Money, *, merchant_id: str | None = None
    ) -> dict[str, Any]:
        """Eligible or not, with coarse reason codes: never the limit or the balance.

        The balance is checked against the amount rounded up to a coarse rung
        (:func:`.credit.preview_amount`), and questions are rate limited per merchant and
        per buyer (429 ``RATE_LIMITED``), so the preview is no oracle for the balance.
        """
        issuer = self._issuer
        issuer.sweep()
        moment = to_epoch(issuer.now())
        if merchant_id is not None:
            ratelimit.hit(
                issuer.engine,
                f"eligibility:merchant:{merchant_id}",
                issuer.config.eligibility_limit_per_merchant,
                moment,
                "eligibility checks by this merchant",
            )
        with reading(issuer.engine) as conn:
            row = conn.execute(_BY_TOKEN, {"token": buyer_token}).first()
        if row is None:
            raise NotFoundError("no buyer with this buyer_token", code="NOT_FOUND")
        ratelimit.hit(
            issuer.engine,
            f"eligibility:buyer:{row.id}",
            issuer.config.eligibility_limit_per_buyer,
            moment,
            "eligibility checks for this buyer",
        )
        plans = issuer.orders.quotes(amount, issuer.offers, issuer.now())
        affordable = self._within_dti(row, plans)
        reasons = credit.credit_reasons(
            row,
            credit.preview_amount(amount),
            in_range=bool(plans),
            over_dti=bool(plans) and not affordable,
        )
        return {
            "eligible": not reasons,
            "reasons": reasons,
            "plans": [q.to_json() for q in affordable] if not reasons else [],
        }

    def _within_dti(self, row: BuyerRow, plans: list[PlanQuote]) -> list[PlanQuote]:
        """The plans whose regular payment keeps the buyer within the debt-to-income cap."""
        issuer = self._issuer
        if not plans or row.monthly_income is None:
            return plans
        cap = issuer.config.credit.dti_cap
        with reading(issuer.engine) as conn:
            return [
                q
                for q in plans
                if not credit.over_dti(conn, row, credit.monthly_payment(q.to_json()), cap)
            ]


def _duplicate_phone(phone: str) -> ConflictError:
    return ConflictError(
        f"a test buyer with phone {mask_phone(phone)} exists already", code="DUPLICATE_PHONE"
    )
