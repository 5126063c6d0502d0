"""The :class:`Issuer`: the mock issuer's whole behaviour, without HTTP.

Blueprints (the signed API, the consent page, the admin log, the test controls), the CLI
and the testing kit all call these methods, so every entry point enforces the same rules.
Each public method is one database transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Engine

from ...errors import InvalidRequestError
from ...installments import STANDARD_OFFERS, PlanOffer
from ...signing import KeyRing, ResponseSigner, encrypt_resource, load_public_key, public_key_pem
from ..config import IssuerConfig
from ..delivery.sender import deliver_due
from ..storage import migrate, shared_state
from ..storage.keystore import IssuerKeys
from ..storage.locking import startup_lock
from ..storage.nonces import DatabaseNonceStore, build_nonce_store
from ..storage.pii import PhoneVault, load_vault
from ..storage.schema import log_failure, metadata, reading, to_epoch
from . import credit, events, ledger_check, lifecycle, ratelimit
from .buyers import Buyers, ensure_magic_buyers
from .clock import Clock
from .faults import FAULT_KINDS, Faults
from .lending import Lending
from .merchants import MerchantRegistry, Prefixes, store_merchant
from .orderbook import OrderBook
from .servicing_sweep import sweep_servicing

__all__ = ["FAULT_KINDS", "Issuer"]

log = logging.getLogger(__name__)

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


class Issuer:
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
        self.merchants = MerchantRegistry(engine)
        self.orders = OrderBook(self)
        self._swept_at: datetime | None = None
        self._serviced_on: date | None = None
        self.faults = Faults(engine, enabled=config.test_mode)
        with engine.begin() as conn:
            startup_lock(conn)
            migrate.ensure_current(conn, url=engine.url.render_as_string(hide_password=True))
            IssuerKeys.ensure(conn, config.signing_keys)
            self.phones: PhoneVault = load_vault(conn)
            offset = int(shared_state.ensure(conn, shared_state.CLOCK_OFFSET, "0"))
            self.session_secret = config.secret_key or shared_state.ensure(
                conn, shared_state.SESSION_SECRET, shared_state.new_secret()
            )
            for m in config.merchants:
                store_merchant(
                    conn,
                    m.id,
                    name=m.name,
                    public_keys=[load_public_key(pem) for pem in m.public_keys],
                    api_key=m.api_key,
                    notify_prefixes=m.notify_prefixes,
                    return_prefixes=m.return_prefixes,
                )
            if config.test_mode:
                ensure_magic_buyers(conn, self.phones, self.now())
        self.clock = Clock(offset)
        self.lending = Lending(self)
        self.nonce_store = build_nonce_store(config.nonce_store, engine, config.max_skew)
        self.buyers = Buyers(self)
        # The buyer operations under the names the web layer, the CLI and the kit call.
        self.create_buyer = self.buyers.create
        self.buyer_by_phone = self.buyers.by_phone
        self.quote = self.buyers.quote
        self.eligibility = self.buyers.eligibility

    def __repr__(self) -> str:
        return f"<Issuer {self.engine.url.render_as_string(hide_password=True)}>"

    # --- clock ----------------------------------------------------------------------------

    def sync_clock(self) -> bool:
        """Adopt the test clock offset stored in the database (another process may have
        advanced it); returns whether any test fault is armed (same query).

        Test mode only: a live issuer's clock is the wall clock and it has no faults.
        """
        if not self.config.test_mode:
            return False
        offset, armed = shared_state.read_test_state(self.engine)
        self.clock.set_offset(offset)
        return armed

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
        """Apply everything that became due: expiries, servicing, and who is overdue.

        Servicing (:mod:`.servicing_sweep`: penalty posting, reminders, overdue notices,
        write-offs, freezes) runs once per business day per process; it is idempotent,
        so other processes sweeping the same day change nothing more.

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
            if now.date() != self._serviced_on:
                sweep_servicing(self.engine, now, self.config)  # before the global
                self._serviced_on = now.date()  # refresh: it sends the freeze messages
            with self.engine.begin() as conn:
                credit.refresh_overdue(conn, now.date())
            self.lending.review_due()  # the periodic limit review
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
        events.purge(self.engine, self.now())  # events are kept 30 days

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
        self.merchants.add(
            merchant_id,
            name=name,
            public_keys=public_keys,
            api_key=api_key,
            notify_prefixes=notify_prefixes,
            return_prefixes=return_prefixes,
        )

    def merchant(self, merchant_id: str) -> Any:
        return self.merchants.row(merchant_id)

    def merchant_prefixes(self, merchant_id: str) -> Prefixes | None:
        """The merchant's URL prefixes, cached for ``KEYRING_TTL`` seconds (new checkouts)."""
        return self.merchants.prefixes(merchant_id)

    def merchant_keyring(self, merchant_id: str) -> KeyRing | None:
        """The merchant's public keys (None for an unknown merchant)."""
        return self.merchants.keyring(merchant_id)

    def merchant_api_key(self, merchant_id: str) -> bytes:
        return self.merchants.api_key(merchant_id)

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

    # --- faults, checks, reset ----------------------------------------------------------------

    def inject_fault(
        self,
        kind: str,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        count: int = 1,
    ) -> None:
        """Arm a test fault for the next ``count`` matching requests (see :mod:`.faults`)."""
        self.faults.inject(kind, method=method, path_prefix=path_prefix, count=count)

    def take_fault(self, kind_set: Collection[str], method: str, path: str) -> str | None:
        """Consume one matching fault (oldest first) and return its kind, or None."""
        return self.faults.take(kind_set, method, path)

    def check_ledger(self) -> list[str]:
        with reading(self.engine) as conn:
            return ledger_check.check_ledger(conn)

    def deliver_pending(self) -> int:
        """Attempt every notification that is due now (tests and the testing kit)."""
        return deliver_due(self)

    def reset(self) -> None:
        """Forget buyers, checkouts, orders, refunds, notifications, faults and the clock."""
        with self.engine.begin() as conn:
            startup_lock(conn)  # a reset and a start-up never interleave
            for table in reversed(metadata.sorted_tables):
                if table.name not in _KEPT_ON_RESET:
                    conn.execute(table.delete())
            shared_state.write(conn, shared_state.CLOCK_OFFSET, "0")
            if self.config.test_mode:
                ensure_magic_buyers(conn, self.phones, self.now())
        self.clock.reset()
        self._swept_at = None
        self._serviced_on = None
