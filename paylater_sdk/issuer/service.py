"""The :class:`Issuer`: the mock issuer's whole behaviour, without HTTP.

Blueprints (the signed API, the consent page, the admin log, the test controls), the CLI
and the testing kit all call these methods, so every entry point enforces the same rules.
Each public method is one database transaction.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..errors import ConflictError, InvalidRequestError, NotFoundError
from ..installments import STANDARD_OFFERS, PlanOffer, as_low_as
from ..keys import KeyRing, load_public_key, serial_for
from ..lifecycle import BuyerStatus, FaultKind
from ..money import Money
from ..notifications import encrypt_resource
from ..signing import ResponseSigner, public_key_pem
from . import credit, ledger, lifecycle, migrate, ratelimit, shared_state
from .clock import Clock
from .config import IssuerConfig
from .credit import TestBuyer
from .db import (
    buyers,
    faults,
    log_failure,
    merchant_keys,
    merchants,
    metadata,
    reading,
    to_epoch,
)
from .keystore import IssuerKeys
from .locking import lock_name, startup_lock
from .nonces import DatabaseNonceStore, build_nonce_store
from .orderbook import OrderBook

__all__ = ["FAULT_KINDS", "Issuer"]

log = logging.getLogger(__name__)

FAULT_KINDS = tuple(kind.value for kind in FaultKind)
#: Tables that /_test/reset keeps: who the merchants are and the issuer's own keys.
_MAX_CLOCK_OFFSET = 100 * 366 * 24 * 3600
_KEPT_ON_RESET = {
    "alembic_version",
    "merchants",
    "merchant_keys",
    "issuer_keys",
    "issuer_state",
    "seen_nonces",
}


class Issuer(OrderBook):
    """A stateful 分付-style credit issuer over one database.

    Everything that must hold across processes (the schema, the signing keys, nonces, the
    test clock, the session secret) lives in the database, so any number of processes can
    serve one issuer; start-up takes a database lock, so they may also start at once.
    """

    def __init__(self, config: IssuerConfig, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        self.clock = Clock()
        self.keys = IssuerKeys(engine)
        offers = config.plan_offers if config.plan_offers is not None else STANDARD_OFFERS
        self.offers: tuple[PlanOffer, ...] = tuple(offers)
        self._keyrings: dict[str, KeyRing] = {}
        self._swept_at: datetime | None = None
        # Fault bookkeeping: most requests find no fault armed, and need no query to know.
        self._faults_armed = True
        self._faults_generation = 0
        self._lock = threading.Lock()
        with engine.begin() as conn:
            startup_lock(conn)
            migrate.ensure_current(conn, url=engine.url.render_as_string(hide_password=True))
            IssuerKeys.ensure(conn, config.signing_keys)
            offset = int(shared_state.ensure(conn, shared_state.CLOCK_OFFSET, "0"))
            self.session_secret = config.secret_key or shared_state.ensure(
                conn, shared_state.SESSION_SECRET, shared_state.new_secret()
            )
            for m in config.merchants:
                self._store_merchant(
                    conn,
                    m.id,
                    name=m.name,
                    public_keys=[load_public_key(pem) for pem in m.public_keys],
                    api_key=m.api_key,
                    notify_prefixes=m.notify_prefixes,
                    return_prefixes=m.return_prefixes,
                )
            if config.test_mode:
                self._ensure_magic_buyers(conn)
        self.clock = Clock(offset)
        self.nonce_store = build_nonce_store(config.nonce_store, engine, config.max_skew)

    def __repr__(self) -> str:
        return f"<Issuer {self.engine.url.render_as_string(hide_password=True)}>"

    # --- clock ----------------------------------------------------------------------------

    def sync_clock(self) -> None:
        """Adopt the test clock offset stored in the database (another process may have
        advanced it). Test mode only: a live issuer's clock is the wall clock."""
        if self.config.test_mode:
            stored = shared_state.read(self.engine, shared_state.CLOCK_OFFSET)
            self.clock.set_offset(int(stored or 0))

    def now(self) -> datetime:
        """Business time: wall clock plus the test clock's offset (whole seconds, UTC)."""
        return self.clock.now()

    def advance_clock(self, seconds: int) -> datetime:
        """Move the test clock forward for every process; expiries and overdue follow."""
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise ValueError("the clock only moves forward by a whole number of seconds")
        with self.engine.begin() as conn:
            offset = shared_state.add_to_int(
                conn, shared_state.CLOCK_OFFSET, seconds, maximum=_MAX_CLOCK_OFFSET
            )
        if offset is None:
            raise InvalidRequestError(
                "the test clock cannot run more than 100 years ahead; POST /_test/reset",
                code="INVALID_FIELD",
            )
        self.clock.set_offset(offset)
        self.sweep()
        return self.now()

    def sweep(self) -> None:
        """Apply everything that became due: expiries, and who is overdue.

        Runs before each request, but at most once per second of business time: nothing
        created since the last sweep can already be due (every TTL is at least a minute),
        and the operations that change what is due (repay, refund) refresh it themselves.
        A sweep never fails the request that triggered it: each expiry is its own
        transaction, a race lost to another process is skipped, and any other error is
        logged and retried by the next sweep.
        """
        now = self.now()
        if now == self._swept_at:
            return
        try:
            lifecycle.expire_due(self.engine, now)
            with self.engine.begin() as conn:
                credit.refresh_overdue(conn, now.date())
        except Exception as exc:
            log_failure(log, "sweep failed; the next one retries", exc)
            return
        self._swept_at = now

    def housekeeping(self) -> None:
        """The background sweeper's pass: the clock, a sweep, and old nonces forgotten."""
        self.sync_clock()
        self.sweep()
        if isinstance(self.nonce_store, DatabaseNonceStore):
            self.nonce_store.purge()
        ratelimit.purge(self.engine, to_epoch(self.now()))

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
        loaded = [load_public_key(pem) for pem in public_keys]
        with self.engine.begin() as conn:
            self._store_merchant(
                conn,
                merchant_id,
                name=name,
                public_keys=loaded,
                api_key=api_key,
                notify_prefixes=notify_prefixes,
                return_prefixes=return_prefixes,
            )
        with self._lock:
            self._keyrings.pop(merchant_id, None)

    @staticmethod
    def _store_merchant(
        conn: sa.Connection,
        merchant_id: str,
        *,
        name: str,
        public_keys: Sequence[Any],
        api_key: str,
        notify_prefixes: Sequence[str],
        return_prefixes: Sequence[str],
    ) -> None:
        if not isinstance(api_key, str) or len(api_key.encode()) != 32:
            raise ValueError("a merchant API key must be exactly 32 bytes")
        lock_name(conn, f"paylater-issuer:merchant:{merchant_id}")  # racing registrations
        values = {
            "name": name,
            "api_key": api_key,
            "notify_prefixes": json.dumps(list(notify_prefixes)),
            "return_prefixes": json.dumps(list(return_prefixes)),
        }
        updated = conn.execute(
            merchants.update().where(merchants.c.id == merchant_id).values(**values)
        )
        if updated.rowcount != 1:
            conn.execute(
                merchants.insert().values(
                    id=merchant_id, created_at=to_epoch(datetime.now(UTC)), **values
                )
            )
        known = set(
            conn.execute(
                sa.select(merchant_keys.c.serial).where(merchant_keys.c.merchant_id == merchant_id)
            ).scalars()
        )
        for key in public_keys:
            serial = serial_for(key)
            if serial not in known:
                known.add(serial)
                conn.execute(
                    merchant_keys.insert().values(
                        merchant_id=merchant_id,
                        serial=serial,
                        public_pem=public_key_pem(key).decode(),
                    )
                )

    def merchant(self, merchant_id: str) -> Any:
        with reading(self.engine) as conn:
            return conn.execute(sa.select(merchants).where(merchants.c.id == merchant_id)).first()

    def merchant_keyring(self, merchant_id: str) -> KeyRing | None:
        """The merchant's public keys (None for an unknown merchant)."""
        with self._lock:
            cached = self._keyrings.get(merchant_id)
        if cached is not None:
            return cached
        with reading(self.engine) as conn:
            known = conn.execute(
                sa.select(merchants.c.id).where(merchants.c.id == merchant_id)
            ).first()
            if known is None:
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
            raise lifecycle.not_found("merchant", merchant_id)
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
        status: str = BuyerStatus.ACTIVE,
        overdue: bool = False,
    ) -> TestBuyer:
        try:
            with self.engine.begin() as conn:
                if phone is not None:
                    taken = conn.execute(
                        sa.select(buyers.c.id).where(buyers.c.phone == phone)
                    ).first()
                    if taken is not None:
                        raise _duplicate_phone(phone)
                return credit.insert_buyer(
                    conn,
                    limit=limit,
                    now=self.now(),
                    phone=phone,
                    single_purchase_max=single_purchase_max,
                    status=status,
                    overdue=overdue,
                )
        except IntegrityError:  # the same phone registered concurrently
            if phone is None:
                raise
            raise _duplicate_phone(phone) from None

    def _ensure_magic_buyers(self, conn: sa.Connection) -> None:
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
                limit=Money.from_minor(settings["limit"], "CNY"),
                now=self.now(),
                phone=phone,
                single_purchase_max=None if spm is None else Money.from_minor(spm, "CNY"),
                status=settings.get("status", BuyerStatus.ACTIVE),
                overdue=settings.get("overdue", False),
                buyer_id="byr_" + token.removeprefix("bt_"),
                token=token,
            )

    def buyer_by_phone(self, phone: str) -> TestBuyer | None:
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(buyers).where(buyers.c.phone == phone)).first()
        if row is None:
            return None
        return TestBuyer(
            id=row.id, buyer_token=row.buyer_token, phone=row.phone, test_code=row.test_code
        )

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

    def eligibility(
        self, buyer_token: str, amount: Money, *, merchant_id: str | None = None
    ) -> dict[str, Any]:
        """Eligible or not, with coarse reason codes: never the limit or the balance.

        The balance is checked against the amount rounded up to a coarse rung
        (:func:`.credit.preview_amount`), and questions are rate limited per merchant and
        per buyer (429 ``RATE_LIMITED``), so the preview is no oracle for the balance.
        """
        self.sweep()
        moment = to_epoch(self.now())
        if merchant_id is not None:
            ratelimit.hit(
                self.engine,
                f"eligibility:merchant:{merchant_id}",
                self.config.eligibility_limit_per_merchant,
                moment,
                "eligibility checks by this merchant",
            )
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(buyers).where(buyers.c.buyer_token == buyer_token)).first()
        if row is None:
            raise NotFoundError("no buyer with this buyer_token", code="NOT_FOUND")
        ratelimit.hit(
            self.engine,
            f"eligibility:buyer:{row.id}",
            self.config.eligibility_limit_per_buyer,
            moment,
            "eligibility checks for this buyer",
        )
        plans = self._quotes(amount, self.offers, self.now())
        reasons = credit.credit_reasons(row, credit.preview_amount(amount), in_range=bool(plans))
        return {
            "eligible": not reasons,
            "reasons": reasons,
            "plans": [q.to_json() for q in plans] if not reasons else [],
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
        with self._lock:
            self._faults_armed = True
            self._faults_generation += 1

    def take_fault(self, kind_set: Collection[str], method: str, path: str) -> str | None:
        """Consume one matching fault (oldest first) and return its kind, or None."""
        with self._lock:
            if not self._faults_armed:
                return None
            generation = self._faults_generation
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(faults).where(faults.c.remaining > 0).order_by(faults.c.id)
            ).all()
            if not rows:
                with self._lock:
                    if generation == self._faults_generation:
                        self._faults_armed = False
                return None
            for row in rows:
                if row.kind not in kind_set:
                    continue
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
        with reading(self.engine) as conn:
            return ledger.check_ledger(conn)

    def deliver_pending(self) -> int:
        outbox = importlib.import_module("paylater_sdk.issuer.outbox")
        attempts: int = outbox.deliver_due(self)
        return attempts

    def reset(self) -> None:
        """Forget buyers, checkouts, orders, refunds, notifications, faults and the clock."""
        with self.engine.begin() as conn:
            startup_lock(conn)  # a reset and a start-up never interleave
            for table in reversed(metadata.sorted_tables):
                if table.name not in _KEPT_ON_RESET:
                    conn.execute(table.delete())
            shared_state.write(conn, shared_state.CLOCK_OFFSET, "0")
            if self.config.test_mode:
                self._ensure_magic_buyers(conn)
        self.clock.reset()
        self._swept_at = None


def _duplicate_phone(phone: str) -> ConflictError:
    return ConflictError(f"a test buyer with phone {phone} exists already", code="DUPLICATE_PHONE")
