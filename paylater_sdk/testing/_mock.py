"""``MockIssuer``: the real mock issuer in-process, reached through ``responses`` or httpx.

Nothing here is a stub: the issuer is :func:`paylater_sdk.issuer.create_app` with its own
SQLite database in a temporary folder, and every HTTP call the SDK makes to ``base_url`` is
handed by ``responses`` (the sync client) or an ``httpx.MockTransport`` (the async client,
:meth:`MockIssuer.async_client`) to the app's Flask test client. A merchant's test suite therefore
runs the real signing, verification, ledger and state machine, with no sockets and no
sleeping (retries back off through a no-op ``sleep``).

Faults come in two kinds. Server-side ones (``error_500``, ``drop_notification``,
``duplicate_notification``) are the issuer's own test controls. Client-side ones happen on
the wire, so they live here: ``connection_drop_after_commit`` (the issuer handles and
commits, then the client sees a ``ConnectionError``), ``timeout`` (the same, seen as a read
timeout) and ``connection_error`` (the request never arrives).
"""

from __future__ import annotations

import re
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import responses
from flask import Flask
from flask.testing import FlaskClient

from ..client import AsyncPayLaterClient, Event, PayLaterClient, Plan, RetryPolicy
from ..errors import ConfigurationError, NotFoundError, PayLaterError
from ..issuer import Issuer, TestBuyer, create_app, get_issuer
from ..money import Money
from ..signing import InMemoryNonceStore, generate_private_key, public_key_pem, serial_for
from . import _books
from ._consent import consent_flow
from ._notify import DeliveredNotification, HandlerError, NotifyTarget
from ._wire import CLIENT_FAULTS, Wire

if TYPE_CHECKING:
    import httpx


def _as_money(value: Money | str | int, currency: str = "CNY") -> Money:
    if isinstance(value, Money):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigurationError("an amount must be Money or a decimal string such as '5000.00'")
    return Money(value, currency)


def _buyer_id(buyer: TestBuyer | str) -> str:
    return buyer.id if isinstance(buyer, TestBuyer) else buyer


class MockIssuer:
    """The mock issuer app in-process, with ``responses`` routing ``base_url`` to it.

    Use it as a context manager (or :meth:`start` / :meth:`stop`)::

        with MockIssuer() as issuer:
            client = issuer.client()
            buyer = issuer.create_buyer(limit="5000.00")
            checkout = client.checkouts.create(...)
            issuer.authorize(checkout.id, buyer, "fenfu-6")

    ``notify_app`` receives notifications as the real issuer would POST them: a WSGI app
    (Flask, Django), an ASGI app (FastAPI, Starlette, Django), a Flask test client, or a
    callable ``handler(headers, body) -> status``. An exception in it is raised by
    :meth:`deliver_pending` (the issuer saw a 500). Without one, notifications are
    acknowledged and kept in :attr:`notifications`. ``config`` adds or overrides issuer
    settings.
    """

    DEFAULT_BASE_URL = "https://issuer.paylater.test"

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        merchant_id: str = "m_test",
        merchant_name: str = "Test Shop 测试商户",
        key_alg: str = "ed25519",
        notify_app: Flask | FlaskClient | Callable[..., Any] | None = None,
        notify_prefixes: Iterable[str] = ("https://", "http://"),
        return_prefixes: Iterable[str] = ("https://", "http://"),
        config: Mapping[str, Any] | None = None,
        wechat: bool | Mapping[str, Any] = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path:
            raise ConfigurationError(
                f"base_url must be a scheme and host such as {self.DEFAULT_BASE_URL!r}"
            )
        self.merchant_id = merchant_id
        self.merchant_key = generate_private_key(key_alg)
        self.key_serial = serial_for(self.merchant_key)
        self.api_key = secrets.token_hex(16)
        self._tmp = tempfile.TemporaryDirectory(prefix="paylater-mock-issuer-")
        settings: dict[str, Any] = {
            "TEST_MODE": True,
            "DATABASE_URL": f"sqlite:///{Path(self._tmp.name) / 'issuer.db'}",
            "PUBLIC_URL": self.base_url,
            "NOTIFY_TRANSPORT": self._transport,
            "NOTIFY_WORKER": False,
            "MERCHANTS": [
                {
                    "id": merchant_id,
                    "name": merchant_name,
                    "public_keys": [public_key_pem(self.merchant_key).decode()],
                    "api_key": self.api_key,
                    "notify_prefixes": list(notify_prefixes),
                    "return_prefixes": list(return_prefixes),
                }
            ],
        }
        settings.update(config or {})
        self.app: Flask = create_app(settings)
        self.issuer: Issuer = get_issuer(self.app)
        self._target: NotifyTarget | None = None
        self.notify_app = notify_app
        self._handler_errors: list[BaseException] = []
        self.notifications: list[DeliveredNotification] = []
        #: Every backoff delay the clients made by :meth:`client` slept (instantly).
        self.sleeps: list[float] = []
        self._wire = Wire(self.app, self.base_url)
        self._lock = threading.Lock()
        self._mock: responses.RequestsMock | None = None
        self._parser_nonces = InMemoryNonceStore()
        # --- WeChat Pay v3 (testing/_wechat.py): wechat=True or a dict of its options ---
        self.wechat: Any = None
        if wechat:
            from ._wechat import WeChatSandbox

            options = dict(wechat) if isinstance(wechat, Mapping) else {}
            self.wechat = WeChatSandbox(self, **options)

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> MockIssuer:
        """Start routing ``base_url`` into the app (idempotent)."""
        if self._mock is None:
            mock = responses.RequestsMock(assert_all_requests_are_fired=False)
            pattern = re.compile(re.escape(self.base_url) + r"(/.*)?$")
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
                mock.add_callback(method, pattern, callback=self._wire.requests_callback)
            # Loopback stays reachable: a test may run real local servers next to the mock.
            mock.add_passthru(re.compile(r"https?://(127\.0\.0\.1|localhost|\[::1\])[:/]"))
            if self.wechat is not None:  # WeChat Pay's gateway too (testing/_wechat.py)
                self.wechat.route(mock)
            mock.start()
            self._mock = mock
        return self

    def stop(self) -> None:
        """Stop routing and delete the database."""
        if self._mock is not None:
            self._mock.stop()
            self._mock.reset()
            self._mock = None
        self.issuer.engine.dispose()
        self._tmp.cleanup()

    def __enter__(self) -> MockIssuer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"MockIssuer(base_url={self.base_url!r}, merchant_id={self.merchant_id!r})"

    # --- the merchant side -------------------------------------------------------------

    def client(self, **overrides: Any) -> PayLaterClient:
        """A :class:`PayLaterClient` configured for this issuer's test merchant.

        It fetches the issuer's keys from ``/v1/certificates`` like a production client,
        and its retries back off instantly (delays are recorded in :attr:`sleeps`).
        """
        options: dict[str, Any] = {
            "merchant_id": self.merchant_id,
            "private_key": self.merchant_key,
            "key_serial": self.key_serial,
            "api_key": self.api_key,
            "retry_policy": RetryPolicy(jitter=lambda d: d, sleep=self.sleeps.append),
        }
        options.update(overrides)
        return PayLaterClient(self.base_url, **options)

    def client_config(self) -> dict[str, Any]:
        """Keyword arguments for ``PayLaterClient(base_url, **config)`` (e.g. for an app)."""
        return {
            "merchant_id": self.merchant_id,
            "private_key": self.merchant_key,
            "key_serial": self.key_serial,
            "api_key": self.api_key,
        }

    def async_client(self, **overrides: Any) -> AsyncPayLaterClient:
        """An :class:`AsyncPayLaterClient` for the test merchant, served in-process.

        Its httpx client has an ``httpx.MockTransport`` onto the same app (the issuer runs
        in a worker thread, so the event loop is never blocked); wire faults and instant
        retries work as for :meth:`client`. No :meth:`start` is needed for it.
        """
        import httpx

        options: dict[str, Any] = {
            "merchant_id": self.merchant_id,
            "private_key": self.merchant_key,
            "key_serial": self.key_serial,
            "api_key": self.api_key,
            "retry_policy": RetryPolicy(jitter=lambda d: d, sleep=self.sleeps.append),
            "session": httpx.AsyncClient(transport=self.async_transport()),
        }
        options.update(overrides)
        return AsyncPayLaterClient(self.base_url, **options)

    def async_transport(self) -> httpx.MockTransport:
        """The httpx transport :meth:`async_client` uses, for an ``httpx.AsyncClient`` of
        your own (``session=httpx.AsyncClient(transport=issuer.async_transport())``)."""
        import httpx

        return httpx.MockTransport(self._wire.httpx_handler)

    @property
    def notify_app(self) -> Any:
        """The merchant app notifications are POSTed into (None: acknowledge them)."""
        return None if self._target is None else self._target.app

    @notify_app.setter
    def notify_app(self, app: Any) -> None:
        self._target = None if app is None else NotifyTarget(app)

    # --- buyers, clock, faults, ledger -------------------------------------------------

    def create_buyer(
        self,
        *,
        limit: Money | str | int,
        phone: str | None = None,
        single_purchase_max: Money | str | int | None = None,
        status: str = "ACTIVE",
        overdue: bool = False,
    ) -> TestBuyer:
        """A test buyer (``buyer_token``, ``phone``, ``test_code``) with a credit limit."""
        return self.issuer.create_buyer(
            limit=_as_money(limit),
            phone=phone,
            single_purchase_max=None
            if single_purchase_max is None
            else _as_money(single_purchase_max),
            status=status,
            overdue=overdue,
        )

    def advance_clock(
        self, seconds: int = 0, *, minutes: int = 0, hours: int = 0, days: int = 0
    ) -> datetime:
        """Move the issuer's test clock forward; expiries and due dates follow."""
        total = seconds + 60 * minutes + 3600 * hours + 86400 * days
        return self.issuer.advance_clock(total)

    def now(self) -> datetime:
        """The issuer's current time, as moved by :meth:`advance_clock`."""
        return self.issuer.now()

    def inject_fault(
        self,
        kind: str,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` matching requests (or notifications) fail.

        Client-side kinds: ``connection_drop_after_commit``, ``timeout``,
        ``connection_error``. Issuer-side kinds: ``error_500``, ``drop_notification``,
        ``duplicate_notification``.
        """
        if kind not in CLIENT_FAULTS:
            self.issuer.inject_fault(kind, method=method, path_prefix=path_prefix, count=count)
            return
        self._wire.add_fault(kind, method=method, path_prefix=path_prefix, count=count)

    def repay(
        self, buyer: TestBuyer | str, order_id: str, amount: Money | None = None
    ) -> dict[str, Any]:
        """The buyer repays (the next installment by default)."""
        return self.issuer.orders.repay(_buyer_id(buyer), order_id, amount)

    def check_ledger(self) -> list[str]:
        """Ledger invariant violations (empty when every buyer balances)."""
        return self.issuer.check_ledger()

    def ledger(self, buyer: TestBuyer | str) -> list[tuple[str, str, Money]]:
        """The buyer's ledger entries, oldest first: ``(reason, reference, amount)``.

        E.g. ``[("OPEN", ..), ("HOLD", "ord_..", Money("120.00", "CNY"))]``: a retried
        checkout or capture must never show a second HOLD or CAPTURE.
        """
        return _books.ledger_entries(self.issuer.engine, _buyer_id(buyer))

    def balances(self, buyer: TestBuyer | str) -> dict[str, Money]:
        """``limit``, ``available``, ``held`` and ``outstanding`` of one buyer."""
        return _books.balances(self.issuer.engine, _buyer_id(buyer))

    def assert_ledger_ok(self) -> None:
        """Raise AssertionError listing every buyer whose ledger invariant is broken."""
        problems = self.check_ledger()
        if problems:
            raise AssertionError("ledger invariant broken:\n" + "\n".join(problems))

    # --- notifications -----------------------------------------------------------------

    def deliver_pending(self) -> list[DeliveredNotification]:
        """Deliver every due notification now; return the deliveries this call made.

        If the ``notify_app`` raised, the issuer saw a 500 (and will retry on its
        schedule) and the first exception is raised here, so the test fails with it.
        """
        before = len(self.notifications)
        self.issuer.deliver_pending()
        with self._lock:
            errors, self._handler_errors = self._handler_errors, []
        if errors:
            raise errors[0]
        return self.notifications[before:]

    async def adeliver_pending(self) -> list[DeliveredNotification]:
        """:meth:`deliver_pending` from async code: the issuer works in a worker thread
        and an ASGI ``notify_app`` runs on this event loop."""
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self.deliver_pending)

    def events(self, event_type: str | None = None) -> list[Event]:
        """The parsed events delivered so far, optionally of one type."""
        found = [n.event for n in self.notifications if n.event is not None]
        if event_type is None:
            return found
        return [e for e in found if e.event_type.value == event_type]

    def _transport(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
        status = 204
        if self._target is not None:
            try:
                status = self._target.deliver(url, headers, body)
            except HandlerError as failed:
                with self._lock:
                    self._handler_errors.append(failed.original)
                status = 500  # what a crashing handler answers; the issuer retries
        self.notifications.append(
            DeliveredNotification(
                url=url,
                headers=dict(headers),
                body=body,
                event=self._parse(headers, body),
                status=status,
            )
        )
        return status

    def _parse(self, headers: Mapping[str, str], body: bytes) -> Event | None:
        # Its own client (own nonce memory), so the merchant's parse of the same delivery
        # is never mistaken for a replay; pinned to the issuer's current keys, so it needs
        # no HTTP (an async-only test never starts the requests mock).
        parser = self.client(issuer_keys=self.issuer.signing_keyring())
        parser.notifications.nonce_store = self._parser_nonces
        try:
            return parser.notifications.parse(headers, body)
        except PayLaterError:
            return None

    # --- the buyer ---------------------------------------------------------------------

    def authorize(self, checkout_id: str, buyer: TestBuyer | str, plan: str | Plan) -> str:
        """Do what the buyer does on the consent page; return the redirect to return_url.

        Drives the real HTML form (GET, sign in with phone and test code, pick the plan,
        confirm). A decline raises :class:`CreditDeclinedError` with the reason code shown
        on the page.
        """
        phone = buyer.phone if isinstance(buyer, TestBuyer) else buyer
        found = self.issuer.buyer_by_phone(phone)
        if found is None:
            raise NotFoundError(f"no test buyer with phone {phone}")
        plan_id = plan.plan_id if isinstance(plan, Plan) else plan
        return consent_flow(
            self.app.test_client(), checkout_id, phone=phone, code=found.test_code, plan_id=plan_id
        )
