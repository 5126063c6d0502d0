"""The :class:`Issuer`: the mock issuer's whole behaviour, without HTTP.

Blueprints (the signed API, the consent page, the admin log, the test controls), the CLI
and the testing kit all call these methods, so every entry point enforces the same rules.
Each public method is one database transaction.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..errors import ConflictError, CreditDeclinedError, InvalidRequestError, NotFoundError
from ..installments import STANDARD_OFFERS, PlanOffer, PlanQuote, as_low_as, quote_plans
from ..keys import KeyRing, load_public_key, serial_for
from ..money import Money
from ..notifications import encrypt_resource
from ..replay import InMemoryNonceStore
from ..signing import ResponseSigner, public_key_pem
from . import credit, ledger, lifecycle
from .clock import Clock
from .config import IssuerConfig
from .credit import TestBuyer
from .db import (
    buyers,
    checkouts,
    create_schema,
    faults,
    issuer_state,
    merchant_keys,
    merchants,
    metadata,
    orders,
    refunds,
    to_epoch,
)
from .keystore import IssuerKeys
from .views import checkout_json, checkout_json_by_id, refund_json

__all__ = ["FAULT_KINDS", "Issuer"]

FAULT_KINDS = ("error_500", "timeout", "drop_notification", "duplicate_notification")
#: Tables that /_test/reset keeps: who the merchants are and the issuer's own keys.
_MAX_CLOCK_OFFSET = 100 * 366 * 24 * 3600
_KEPT_ON_RESET = {"schema_version", "merchants", "merchant_keys", "issuer_keys"}


def _not_found(kind: str, obj_id: str) -> NotFoundError:
    return lifecycle.not_found(kind, obj_id)


def _url_allowed(url: str, prefixes: Sequence[str]) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        return False
    return any(url.startswith(prefix) for prefix in prefixes)


class Issuer:
    """A stateful 分付-style credit issuer over one database."""

    def __init__(self, config: IssuerConfig, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        self.clock = Clock()
        create_schema(engine, self.clock.now())
        self.clock = Clock(self._stored_offset())
        self.keys = IssuerKeys(engine, config.signing_keys)
        self.nonce_store = InMemoryNonceStore(window_seconds=config.max_skew)
        offers = config.plan_offers if config.plan_offers is not None else STANDARD_OFFERS
        self.offers: tuple[PlanOffer, ...] = tuple(offers)
        self._keyrings: dict[str, KeyRing] = {}
        self._lock = threading.Lock()
        for m in config.merchants:
            self.add_merchant(
                m.id,
                name=m.name,
                public_keys=m.public_keys,
                api_key=m.api_key,
                notify_prefixes=m.notify_prefixes,
                return_prefixes=m.return_prefixes,
            )
        if config.test_mode:
            self._ensure_magic_buyers()

    def __repr__(self) -> str:
        return f"<Issuer {self.engine.url.render_as_string(hide_password=True)}>"

    # --- clock ----------------------------------------------------------------------------

    def _stored_offset(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(issuer_state.c.value).where(issuer_state.c.key == "clock_offset")
            ).scalar()
        return int(value) if value is not None else 0

    def now(self) -> datetime:
        """Business time: wall clock plus the test clock's offset (whole seconds, UTC)."""
        return self.clock.now()

    def advance_clock(self, seconds: int) -> datetime:
        """Move the test clock forward; expiries and overdue status follow at once."""
        if self.clock.offset + seconds > _MAX_CLOCK_OFFSET:
            raise InvalidRequestError(
                "the test clock cannot run more than 100 years ahead; POST /_test/reset",
                http_status=400,
                code="INVALID_FIELD",
            )
        now = self.clock.advance(seconds)
        with self.engine.begin() as conn:
            conn.execute(issuer_state.delete().where(issuer_state.c.key == "clock_offset"))
            conn.execute(
                issuer_state.insert().values(key="clock_offset", value=str(self.clock.offset))
            )
        self.sweep()
        return now

    def sweep(self) -> None:
        """Apply everything that became due: expiries, and who is overdue."""
        now = self.now()
        with self.engine.begin() as conn:
            lifecycle.expire_due(conn, now)
            credit.refresh_overdue(conn, now.date())

    # --- merchants and keys ---------------------------------------------------------------

    def add_merchant(
        self,
        merchant_id: str,
        *,
        name: str,
        public_keys: Sequence[str | bytes],
        api_key: str,
        notify_prefixes: Sequence[str],
        return_prefixes: Sequence[str],
    ) -> None:
        """Register (or update) a merchant; its public keys are added, never removed."""
        if not isinstance(api_key, str) or len(api_key.encode()) != 32:
            raise ValueError("a merchant API key must be exactly 32 bytes")
        loaded = [load_public_key(pem) for pem in public_keys]
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(merchants.c.id).where(merchants.c.id == merchant_id)
            ).first()
            values = {
                "name": name,
                "api_key": api_key,
                "notify_prefixes": json.dumps(list(notify_prefixes)),
                "return_prefixes": json.dumps(list(return_prefixes)),
            }
            if exists is None:
                conn.execute(
                    merchants.insert().values(
                        id=merchant_id, created_at=to_epoch(self.now()), **values
                    )
                )
            else:
                conn.execute(
                    merchants.update().where(merchants.c.id == merchant_id).values(**values)
                )
            for key in loaded:
                serial = serial_for(key)
                known = conn.execute(
                    sa.select(merchant_keys.c.serial).where(
                        merchant_keys.c.merchant_id == merchant_id, merchant_keys.c.serial == serial
                    )
                ).first()
                if known is None:
                    conn.execute(
                        merchant_keys.insert().values(
                            merchant_id=merchant_id,
                            serial=serial,
                            public_pem=public_key_pem(key).decode(),
                        )
                    )
        with self._lock:
            self._keyrings.pop(merchant_id, None)

    def merchant(self, merchant_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(merchants).where(merchants.c.id == merchant_id)).first()

    def merchant_keyring(self, merchant_id: str) -> KeyRing | None:
        """The merchant's public keys (None for an unknown merchant)."""
        with self._lock:
            cached = self._keyrings.get(merchant_id)
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            if self.merchant(merchant_id) is None:
                return None
            ring = KeyRing()
            for row in conn.execute(
                sa.select(merchant_keys).where(merchant_keys.c.merchant_id == merchant_id)
            ):
                ring.add(load_public_key(row.public_pem.encode()), serial=row.serial)
        with self._lock:
            self._keyrings[merchant_id] = ring
        return ring

    def merchant_api_key(self, merchant_id: str) -> bytes:
        row = self.merchant(merchant_id)
        if row is None:
            raise _not_found("merchant", merchant_id)
        key: str = row.api_key
        return key.encode()

    def response_signer(self) -> ResponseSigner:
        return self.keys.signer()

    def signing_keyring(self) -> KeyRing:
        return self.keys.keyring()

    def rotate_signing_key(self, alg: str = "ed25519") -> str:
        return self.keys.rotate(alg)

    def certificates(self, merchant_id: str) -> list[dict[str, Any]]:
        """The issuer's public keys, each encrypted to the merchant's API key."""
        api_key = self.merchant_api_key(merchant_id)
        result = []
        for item in self.keys.published():
            expire = item["expire_time"]
            result.append(
                {
                    "serial_no": item["serial_no"],
                    "algorithm": item["algorithm"],
                    "effective_time": item["effective_time"].isoformat(),
                    "expire_time": None if expire is None else expire.isoformat(),
                    "encrypt_certificate": encrypt_resource(
                        public_key_pem(item["public_key"]),
                        api_key,
                        associated_data="certificate",
                    ),
                }
            )
        return result

    # --- buyers and credit ----------------------------------------------------------------

    def create_buyer(
        self,
        *,
        limit: Money,
        phone: str | None = None,
        single_purchase_max: Money | None = None,
        status: str = "ACTIVE",
        overdue: bool = False,
    ) -> TestBuyer:
        with self.engine.begin() as conn:
            if phone is not None:
                taken = conn.execute(sa.select(buyers.c.id).where(buyers.c.phone == phone)).first()
                if taken is not None:
                    raise ConflictError(
                        f"a test buyer with phone {phone} exists already",
                        http_status=409,
                        code="DUPLICATE_PHONE",
                    )
            return credit.insert_buyer(
                conn,
                limit=limit,
                now=self.now(),
                phone=phone,
                single_purchase_max=single_purchase_max,
                status=status,
                overdue=overdue,
            )

    def _ensure_magic_buyers(self) -> None:
        with self.engine.begin() as conn:
            for token, (phone, settings) in credit.MAGIC_BUYERS.items():
                known = conn.execute(
                    sa.select(buyers.c.id).where(buyers.c.buyer_token == token)
                ).first()
                if known is not None:
                    continue
                spm = settings.get("single_purchase_max")
                credit.insert_buyer(
                    conn,
                    limit=Money.from_minor(settings["limit"], "CNY"),
                    now=self.now(),
                    phone=phone,
                    single_purchase_max=None if spm is None else Money.from_minor(spm, "CNY"),
                    status=settings.get("status", "ACTIVE"),
                    overdue=settings.get("overdue", False),
                    buyer_id="byr_" + token.removeprefix("bt_"),
                    token=token,
                )

    def buyer_by_phone(self, phone: str) -> TestBuyer | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(buyers).where(buyers.c.phone == phone)).first()
        if row is None:
            return None
        return TestBuyer(
            id=row.id, buyer_token=row.buyer_token, phone=row.phone, test_code=row.test_code
        )

    def _quotes(self, amount: Money, offers: Sequence[PlanOffer], on: datetime) -> list[PlanQuote]:
        same = [o for o in offers if o.min_amount.currency == amount.currency]
        return quote_plans(amount, same, start=on.date(), apr_cap=self.config.apr_cap)

    def quote(self, amount: Money) -> dict[str, Any]:
        now = self.now()
        plans = self._quotes(amount, self.offers, now)
        same = [o for o in self.offers if o.min_amount.currency == amount.currency]
        low = (
            as_low_as(amount, same, start=now.date(), apr_cap=self.config.apr_cap) if same else None
        )
        return {
            "amount": amount.to_json(),
            "plans": [q.to_json() for q in plans],
            "as_low_as": None if low is None else low.to_json(),
        }

    def eligibility(self, buyer_token: str, amount: Money) -> dict[str, Any]:
        """Eligible or not, with reason codes: never the limit or the available balance."""
        self.sweep()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(buyers).where(buyers.c.buyer_token == buyer_token)).first()
        if row is None:
            raise NotFoundError("no buyer with this buyer_token", http_status=404, code="NOT_FOUND")
        plans = self._quotes(amount, self.offers, self.now())
        reasons = credit.credit_reasons(row, amount, in_range=bool(plans))
        return {
            "eligible": not reasons,
            "reasons": reasons,
            "plans": [q.to_json() for q in plans] if not reasons else [],
        }

    # --- checkouts (the merchant's side) ----------------------------------------------------

    def create_checkout(
        self,
        merchant_id: str,
        *,
        out_trade_no: str,
        amount: Money,
        description: str,
        notify_url: str,
        return_url: str,
        plan_ids: Sequence[str] | None,
        expires_in: int | None,
        base_url: str,
    ) -> dict[str, Any]:
        merchant = self.merchant(merchant_id)
        if merchant is None:
            raise _not_found("merchant", merchant_id)
        for field, url, prefixes in (
            ("notify_url", notify_url, json.loads(merchant.notify_prefixes)),
            ("return_url", return_url, json.loads(merchant.return_prefixes)),
        ):
            if not _url_allowed(url, prefixes):
                exc = InvalidRequestError(
                    f"{field} is not under a URL prefix registered for merchant {merchant_id}",
                    http_status=400,
                    code="URL_NOT_ALLOWED",
                )
                exc.field = field  # type: ignore[attr-defined]
                raise exc
        if not any(o.min_amount.currency == amount.currency for o in self.offers):
            raise InvalidRequestError(
                f"this issuer lends in {self.offers[0].min_amount.currency if self.offers else '-'}"
                f", not {amount.currency}",
                http_status=400,
                code="CURRENCY_MISMATCH",
            )
        offers = list(self.offers)
        if plan_ids is not None:
            by_id = {o.plan_id: o for o in self.offers}
            unknown = [p for p in plan_ids if p not in by_id]
            if unknown:
                raise InvalidRequestError(
                    f"unknown plan ids: {', '.join(p[:40] for p in unknown[:5])}",
                    http_status=400,
                    code="PLAN_NOT_AVAILABLE",
                )
            offers = [by_id[p] for p in dict.fromkeys(plan_ids)]
        now = self.now()
        quotes = self._quotes(amount, offers, now)
        if not quotes:
            raise InvalidRequestError(
                f"no plan is offered for {amount}: check the plans' amount ranges",
                http_status=400,
                code="PLAN_NOT_AVAILABLE",
            )
        ttl = expires_in if expires_in is not None else self.config.checkout_ttl
        checkout_id = lifecycle.new_id("co")
        base = (self.config.public_url or base_url).rstrip("/")
        try:
            with self.engine.begin() as conn:
                duplicate = conn.execute(
                    sa.select(checkouts.c.id).where(
                        checkouts.c.merchant_id == merchant_id,
                        checkouts.c.out_trade_no == out_trade_no,
                    )
                ).first()
                if duplicate is not None:
                    raise _duplicate_trade_no(out_trade_no)
                conn.execute(
                    checkouts.insert().values(
                        id=checkout_id,
                        merchant_id=merchant_id,
                        out_trade_no=out_trade_no,
                        state="CREATED",
                        amount=amount.minor,
                        currency=amount.currency,
                        description=description,
                        notify_url=notify_url,
                        return_url=return_url,
                        plans_json=json.dumps([q.to_json() for q in quotes]),
                        authorize_url=f"{base}/authorize/{checkout_id}",
                        created_at=to_epoch(now),
                        expires_at=to_epoch(now + timedelta(seconds=ttl)),
                    )
                )
                return checkout_json_by_id(conn, checkout_id)
        except IntegrityError:
            raise _duplicate_trade_no(out_trade_no) from None

    def _checkout_row(self, conn: sa.Connection, merchant_id: str | None, checkout_id: str) -> Any:
        query = sa.select(checkouts).where(checkouts.c.id == checkout_id)
        if merchant_id is not None:
            query = query.where(checkouts.c.merchant_id == merchant_id)
        row = conn.execute(query).first()
        if row is None:
            raise _not_found("checkout", checkout_id)
        return row

    def _order_row(self, conn: sa.Connection, merchant_id: str | None, order_id: str) -> Any:
        query = sa.select(orders).where(orders.c.id == order_id)
        if merchant_id is not None:
            query = query.where(orders.c.merchant_id == merchant_id)
        row = conn.execute(query).first()
        if row is None:
            raise _not_found("order", order_id)
        return row

    def get_checkout(self, merchant_id: str, checkout_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return checkout_json(conn, self._checkout_row(conn, merchant_id, checkout_id))

    def find_checkout(self, merchant_id: str, out_trade_no: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(checkouts).where(
                    checkouts.c.merchant_id == merchant_id,
                    checkouts.c.out_trade_no == out_trade_no,
                )
            ).first()
            if row is None:
                raise _not_found("checkout with out_trade_no", out_trade_no)
            return checkout_json(conn, row)

    def close_checkout(self, merchant_id: str, checkout_id: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            row = self._checkout_row(conn, merchant_id, checkout_id)
            return lifecycle.close_checkout(conn, row, self.now())

    def capture(self, merchant_id: str, order_id: str, amount: Money | None) -> dict[str, Any]:
        with self.engine.begin() as conn:
            order = self._order_row(conn, merchant_id, order_id)
            offer = self._offer(order.plan_id)
            return lifecycle.capture_order(conn, order, amount, offer, self.now())

    def void(self, merchant_id: str, order_id: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            order = self._order_row(conn, merchant_id, order_id)
            return lifecycle.void_order(conn, order, self.now())

    def create_refund(
        self,
        merchant_id: str,
        *,
        order_id: str,
        amount: Money,
        out_refund_no: str,
        reason: str | None,
    ) -> dict[str, Any]:
        try:
            with self.engine.begin() as conn:
                order = self._order_row(conn, merchant_id, order_id)
                return lifecycle.create_refund(
                    conn,
                    order,
                    amount=amount,
                    out_refund_no=out_refund_no,
                    reason=reason,
                    now=self.now(),
                )
        except IntegrityError:
            raise ConflictError(
                f"out_refund_no {out_refund_no!r} was already used",
                http_status=409,
                code="DUPLICATE_OUT_REFUND_NO",
            ) from None

    def get_refund(self, merchant_id: str, refund_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(refunds).where(
                    refunds.c.id == refund_id, refunds.c.merchant_id == merchant_id
                )
            ).first()
        if row is None:
            raise _not_found("refund", refund_id)
        return refund_json(row)

    def _offer(self, plan_id: str) -> PlanOffer:
        for offer in self.offers:
            if offer.plan_id == plan_id:
                return offer
        raise InvalidRequestError(
            f"plan {plan_id[:40]!r} is not offered", http_status=400, code="PLAN_NOT_AVAILABLE"
        )

    # --- the buyer's side (consent page, test controls) --------------------------------------

    def consent_view(self, checkout_id: str) -> dict[str, Any]:
        self.sweep()
        with self.engine.connect() as conn:
            row = self._checkout_row(conn, None, checkout_id)
            merchant = conn.execute(
                sa.select(merchants.c.name).where(merchants.c.id == row.merchant_id)
            ).scalar_one()
        amount = Money.from_minor(row.amount, row.currency)
        plan_ids = [p["plan_id"] for p in json.loads(row.plans_json)]
        created = datetime.fromtimestamp(row.created_at, self.now().tzinfo)
        offers = [o for o in self.offers if o.plan_id in plan_ids]
        return {
            "id": row.id,
            "state": row.state,
            "merchant_name": merchant,
            "description": row.description,
            "amount": amount,
            "plans": self._quotes(amount, offers, created),
            "return_url": row.return_url,
            "out_trade_no": row.out_trade_no,
            "expired": row.state == "EXPIRED" or row.expires_at <= to_epoch(self.now()),
        }

    def authorize(self, checkout_id: str, *, buyer_id: str, plan_id: str) -> dict[str, Any]:
        """The buyer approves: checks again, places the hold, opens the order, notifies.

        Raises :class:`CreditDeclinedError` (``reason``) on a decline and
        :class:`ConflictError` when the checkout is not awaiting authorization.
        """
        self.sweep()
        now = self.now()
        with self.engine.begin() as conn:
            row = self._checkout_row(conn, None, checkout_id)
            lifecycle.require_state("checkout", row.id, row.state, ("CREATED",), "authorized")
            offered = [p["plan_id"] for p in json.loads(row.plans_json)]
            if plan_id not in offered:
                raise InvalidRequestError(
                    f"plan {plan_id[:40]!r} is not offered for this checkout",
                    http_status=400,
                    code="PLAN_NOT_AVAILABLE",
                )
            amount = Money.from_minor(row.amount, row.currency)
            quotes = self._quotes(amount, [self._offer(plan_id)], now)
            buyer = conn.execute(sa.select(buyers).where(buyers.c.id == buyer_id)).first()
            if buyer is None:
                raise _not_found("buyer", buyer_id)
            reasons = credit.credit_reasons(buyer, amount, in_range=bool(quotes))
            if reasons:
                raise _declined(reasons[0])
            claimed = conn.execute(
                checkouts.update()
                .where(checkouts.c.id == row.id, checkouts.c.state == "CREATED")
                .values(state="AUTHORIZED")
            )
            if claimed.rowcount != 1:
                raise ConflictError(
                    f"checkout {row.id} changed meanwhile", http_status=409, code="INVALID_STATE"
                )
            order_id = lifecycle.new_id("ord")
            if not ledger.hold(
                conn,
                buyer_id=buyer_id,
                amount=amount.minor,
                currency=amount.currency,
                reference=order_id,
                now=now,
            ):
                raise _declined("INSUFFICIENT_LIMIT")  # the conditional UPDATE said no
            conn.execute(
                orders.insert().values(
                    id=order_id,
                    checkout_id=row.id,
                    merchant_id=row.merchant_id,
                    buyer_id=buyer_id,
                    state="AUTHORIZED",
                    currency=amount.currency,
                    amount=amount.minor,
                    held=amount.minor,
                    captured_amount=0,
                    refunded_amount=0,
                    plan_id=plan_id,
                    plan_json=json.dumps(quotes[0].to_json()),
                    schedule_json=None,
                    authorized_at=to_epoch(now),
                    authorization_expires_at=lifecycle.authorization_expiry(
                        now, self.config.authorization_ttl
                    ),
                )
            )
            resource = checkout_json_by_id(conn, row.id)
            lifecycle.emit(
                conn,
                merchant_id=row.merchant_id,
                notify_url=row.notify_url,
                event_type="CHECKOUT.AUTHORIZED",
                original_type="checkout",
                resource=resource,
                summary="checkout authorized",
                now=now,
            )
            return resource

    def repay(self, buyer_id: str, order_id: str, amount: Money | None = None) -> dict[str, Any]:
        """The buyer pays the next installment(s); the principal frees credit again."""
        from ..installments import Schedule

        now = self.now()
        with self.engine.begin() as conn:
            order = self._order_row(conn, None, order_id)
            if order.buyer_id != buyer_id:
                raise _not_found("order", order_id)
            lifecycle.require_state("order", order.id, order.state, lifecycle.REFUNDABLE, "repaid")
            schedule = Schedule.from_json(json.loads(order.schedule_json))
            due = [i for i in schedule.installments if not i.paid]
            if not due:
                raise ConflictError(
                    f"order {order.id} has nothing left to repay",
                    http_status=409,
                    code="INVALID_STATE",
                )
            count, paid, principal = 0, 0, 0
            target = due[0].amount.minor if amount is None else amount.minor
            if amount is not None and amount.currency != order.currency:
                raise InvalidRequestError(
                    "repayment currency differs from the order's",
                    http_status=400,
                    code="CURRENCY_MISMATCH",
                )
            while count < len(due) and paid < target:
                paid += due[count].amount.minor
                principal += due[count].principal.minor
                count += 1
            if paid != target or target <= 0:
                raise InvalidRequestError(
                    "a repayment must equal the next installment or several whole installments",
                    http_status=400,
                    code="INVALID_AMOUNT",
                )
            for _ in range(count):
                schedule = schedule.record_payment(on=now.date())
            conn.execute(
                orders.update()
                .where(orders.c.id == order.id)
                .values(schedule_json=json.dumps(schedule.to_json()))
            )
            ledger.restore_principal(
                conn,
                buyer_id=buyer_id,
                amount=principal,
                currency=order.currency,
                reference=order.id,
                reason="REPAY",
                now=now,
            )
            credit.refresh_overdue(conn, now.date())
            return {
                "order_id": order.id,
                "paid": Money.from_minor(paid, order.currency).to_json(),
                "schedule": schedule.to_json(),
            }

    # --- faults, checks, reset ----------------------------------------------------------------

    def inject_fault(
        self,
        kind: str,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        count: int = 1,
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
            raise ValueError("count must be an integer from 1 to 1000")
        with self.engine.begin() as conn:
            conn.execute(
                faults.insert().values(
                    kind=kind,
                    method=method.upper() if method else None,
                    path_prefix=path_prefix,
                    remaining=count,
                )
            )

    def take_fault(self, kind_set: Collection[str], method: str, path: str) -> str | None:
        """Consume one matching fault (oldest first) and return its kind, or None."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(faults)
                .where(faults.c.kind.in_(list(kind_set)), faults.c.remaining > 0)
                .order_by(faults.c.id)
            ).all()
            for row in rows:
                if row.method and row.method != method.upper():
                    continue
                if row.path_prefix and not path.startswith(row.path_prefix):
                    continue
                done = conn.execute(
                    faults.update()
                    .where(faults.c.id == row.id, faults.c.remaining > 0)
                    .values(remaining=faults.c.remaining - 1)
                )
                if done.rowcount == 1:
                    conn.execute(faults.delete().where(faults.c.remaining <= 0))
                    kind: str = row.kind
                    return kind
        return None

    def check_ledger(self) -> list[str]:
        with self.engine.connect() as conn:
            return ledger.check_ledger(conn)

    def deliver_pending(self) -> int:
        outbox = importlib.import_module("paylater_sdk.issuer.outbox")
        attempts: int = outbox.deliver_due(self)
        return attempts

    def reset(self) -> None:
        """Forget buyers, checkouts, orders, refunds, notifications, faults and the clock."""
        with self.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                if table.name not in _KEPT_ON_RESET:
                    conn.execute(table.delete())
        self.clock.reset()
        self.nonce_store = InMemoryNonceStore(window_seconds=self.config.max_skew)
        if self.config.test_mode:
            self._ensure_magic_buyers()


def _declined(reason: str) -> CreditDeclinedError:
    return CreditDeclinedError(
        f"credit declined: {reason}", reason=reason, http_status=402, code="CREDIT_DECLINED"
    )


def _duplicate_trade_no(out_trade_no: str) -> ConflictError:
    return ConflictError(
        f"out_trade_no {out_trade_no[:64]!r} was already used by another checkout",
        http_status=409,
        code="DUPLICATE_OUT_TRADE_NO",
    )
