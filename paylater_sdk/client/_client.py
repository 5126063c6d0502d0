"""``PayLaterClient``: configuration checked up front, services sharing one core.

:class:`ClientBase` holds what both clients share (the checks of every constructor
argument, the sans-I/O core, the services); ``PayLaterClient`` adds a ``requests``
runner, ``AsyncPayLaterClient`` (:mod:`._async`) an httpx one.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Generic

import requests

from ..errors import ConfigurationError
from ..signing import DEFAULT_PROFILE, IssuerProfile, KeyRing
from ._bills import BillsService
from ._config import (
    check_api_key,
    check_base_url,
    check_header_value,
    check_issuer_keys,
    check_private_key,
    check_timeout,
)
from ._effects import NeedKeys, Op
from ._ops import M, Runner, Sync
from ._requester import Requester
from ._retry import RetryPolicy
from ._runner import SyncRunner
from .services import (
    CheckoutsService,
    CreditService,
    EventsService,
    NotificationsService,
    OrdersService,
    PlansService,
    RefundsService,
)


def check_refresh_interval(value: object) -> float:
    """Seconds between two automatic key refreshes: a number from 0 to one day."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 86400:
        raise ConfigurationError(
            f"key_refresh_interval must be a number of seconds from 0 to 86400, got {value!r}"
        )
    return float(value)


class ClientBase(Generic[M]):
    """Configuration, core and services shared by the sync and async clients."""

    def __init__(
        self,
        base_url: str,
        *,
        merchant_id: str,
        private_key: Any,
        key_serial: str,
        api_key: str | bytes,
        issuer_keys: Any,
        profile: IssuerProfile | None,
        timeout: float | tuple[float, float],
        max_retries: int,
        retry_policy: RetryPolicy | None,
        key_refresh_interval: float,
    ) -> None:
        url = check_base_url(base_url)
        merchant = check_header_value("merchant_id", merchant_id)
        serial = check_header_value("key_serial", key_serial)
        key = check_private_key(private_key)
        secret = check_api_key(api_key)
        ring: KeyRing | None = check_issuer_keys(issuer_keys)
        timeouts = check_timeout(timeout)
        interval = check_refresh_interval(key_refresh_interval)
        if retry_policy is None:
            retry_policy = RetryPolicy(max_retries=max_retries)
        elif not isinstance(retry_policy, RetryPolicy):
            raise ConfigurationError("retry_policy must be a paylater_sdk.client.RetryPolicy")
        if profile is not None and not isinstance(profile, IssuerProfile):
            raise ConfigurationError(
                "profile must be a paylater_sdk.signing.IssuerProfile such as WECHATPAY_V3"
            )
        self.merchant_id = merchant
        self.key_serial = serial
        self._core = Requester(
            base_url=url,
            merchant_id=merchant,
            private_key=key,
            key_serial=serial,
            api_key=secret,
            issuer_keys=ring,
            profile=DEFAULT_PROFILE if profile is None else profile,
            timeout=timeouts,
            retry=retry_policy,
            key_refresh_interval=interval,
        )

    def _attach(self, runner: Runner) -> None:
        self._runner = runner
        core = self._core
        self.credit: CreditService[M] = CreditService(core, runner)
        self.plans: PlansService[M] = PlansService(core, runner)
        self.checkouts: CheckoutsService[M] = CheckoutsService(core, runner)
        self.orders: OrdersService[M] = OrdersService(core, runner)
        self.refunds: RefundsService[M] = RefundsService(core, runner)
        self.notifications: NotificationsService[M] = NotificationsService(core, runner)
        self.events: EventsService[M] = EventsService(core, runner)
        self.bills: BillsService[M] = BillsService(core, runner)

    @property
    def base_url(self) -> str:
        """The issuer's base URL, without a trailing slash."""
        return self._core.base_url

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) timeout in seconds of every request."""
        return self._core.timeout

    @property
    def retry_policy(self) -> RetryPolicy:
        """How failed requests are retried (attempts, backoff); see docs/client.md."""
        return self._core.retry

    @property
    def key_refresh_interval(self) -> float:
        """Least seconds between two automatic refreshes of the issuer's keys."""
        return self._core.key_refresh_interval

    @staticmethod
    def _refresh_op() -> Op[KeyRing]:
        fresh: KeyRing = yield NeedKeys(force=True)
        return fresh

    def __repr__(self) -> str:
        # Never the private key, API key or issuer keys: only what identifies the setup.
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, "
            f"merchant_id={self.merchant_id!r}, key_serial={self.key_serial!r})"
        )


class PayLaterClient(ClientBase[Sync]):
    """A merchant's typed, signed, retrying connection to one issuer.

    >>> client = PayLaterClient(  # doctest: +SKIP
    ...     "https://issuer.example.com",
    ...     merchant_id="m_1001",
    ...     private_key=open("merchant_key.pem", "rb").read(),
    ...     key_serial="9A1B...",
    ...     api_key=os.environ["PAYLATER_API_KEY"],
    ... )

    ``issuer_keys=None`` fetches and caches the issuer's keys from ``/v1/certificates``
    (authenticated by decrypting them with ``api_key``) and refreshes them once when an
    answer or notification is signed by an unknown serial (key rotation), at most once per
    ``key_refresh_interval`` seconds (a flood of made-up serials costs one fetch, the rest
    raise :class:`~paylater_sdk.errors.UnknownKeyError`). ``retry_policy`` replaces
    ``max_retries`` when given (tests use it to make backoff instantaneous).

    Thread-safe; one instance per issuer and merchant is meant to be shared.
    """

    def __init__(
        self,
        base_url: str,
        *,
        merchant_id: str,
        private_key: Any,
        key_serial: str,
        api_key: str | bytes,
        issuer_keys: Any = None,
        profile: IssuerProfile | None = None,
        timeout: float | tuple[float, float] = (3.05, 10),
        max_retries: int = 2,
        session: requests.Session | None = None,
        retry_policy: RetryPolicy | None = None,
        key_refresh_interval: float = 60.0,
    ) -> None:
        super().__init__(
            base_url,
            merchant_id=merchant_id,
            private_key=private_key,
            key_serial=key_serial,
            api_key=api_key,
            issuer_keys=issuer_keys,
            profile=profile,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            key_refresh_interval=key_refresh_interval,
        )
        if session is not None and not isinstance(session, requests.Session):
            raise ConfigurationError("session must be a requests.Session")
        self._sync = SyncRunner(self._core, session)
        self._attach(self._sync)

    @property
    def issuer_keys(self) -> KeyRing:
        """The issuer's public keys (fetched from ``/v1/certificates`` on first use)."""
        return self._sync.run(self._core.keys())

    def refresh_issuer_keys(self) -> KeyRing:
        """Fetch ``/v1/certificates`` now (e.g. after the issuer announced a rotation)."""
        return self._sync.run(self._refresh_op())

    def close(self) -> None:
        """Close the HTTP session if the client created it."""
        self._sync.close()

    def __enter__(self) -> PayLaterClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
