"""``PayLaterClient``: configuration checked up front, services sharing one requester."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import requests

from ..errors import ConfigurationError
from ..signing import DEFAULT_PROFILE, IssuerProfile, KeyRing
from ._config import (
    check_api_key,
    check_base_url,
    check_header_value,
    check_issuer_keys,
    check_private_key,
    check_timeout,
)
from ._requester import Requester
from ._retry import RetryPolicy
from .services import (
    CheckoutsService,
    CreditService,
    NotificationsService,
    OrdersService,
    PlansService,
    RefundsService,
)

__all__ = ["PayLaterClient"]


class PayLaterClient:
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
    answer is signed by an unknown serial (key rotation). ``retry_policy`` replaces
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
    ) -> None:
        url = check_base_url(base_url)
        merchant = check_header_value("merchant_id", merchant_id)
        serial = check_header_value("key_serial", key_serial)
        key = check_private_key(private_key)
        secret = check_api_key(api_key)
        ring: KeyRing | None = check_issuer_keys(issuer_keys)
        timeouts = check_timeout(timeout)
        if retry_policy is None:
            retry_policy = RetryPolicy(max_retries=max_retries)
        elif not isinstance(retry_policy, RetryPolicy):
            raise ConfigurationError("retry_policy must be a paylater_sdk.client.RetryPolicy")
        if profile is not None and not isinstance(profile, IssuerProfile):
            raise ConfigurationError(
                "profile must be a paylater_sdk.signing.IssuerProfile such as WECHATPAY_V3"
            )
        if session is not None and not isinstance(session, requests.Session):
            raise ConfigurationError("session must be a requests.Session")
        self.merchant_id = merchant
        self.key_serial = serial
        self._requester = Requester(
            base_url=url,
            merchant_id=merchant,
            private_key=key,
            key_serial=serial,
            api_key=secret,
            issuer_keys=ring,
            profile=DEFAULT_PROFILE if profile is None else profile,
            timeout=timeouts,
            retry=retry_policy,
            session=session,
        )
        self.credit = CreditService(self._requester)
        self.plans = PlansService(self._requester)
        self.checkouts = CheckoutsService(self._requester)
        self.orders = OrdersService(self._requester)
        self.refunds = RefundsService(self._requester)
        self.notifications = NotificationsService(self._requester, api_key=secret)

    @property
    def base_url(self) -> str:
        """The issuer's base URL, without a trailing slash."""
        return self._requester.base_url

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) timeout in seconds of every request."""
        return self._requester.timeout

    @property
    def retry_policy(self) -> RetryPolicy:
        """How failed requests are retried (attempts, backoff); see docs/client.md."""
        return self._requester.retry

    @property
    def issuer_keys(self) -> KeyRing:
        """The issuer's public keys (fetched from ``/v1/certificates`` on first use)."""
        return self._requester.keyring()

    def refresh_issuer_keys(self) -> KeyRing:
        """Fetch ``/v1/certificates`` now (e.g. after the issuer announced a rotation)."""
        return self._requester.refresh_keys(None)

    def close(self) -> None:
        """Close the HTTP session if the client created it."""
        self._requester.close()

    def __enter__(self) -> PayLaterClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        # Never the private key, API key or issuer keys: only what identifies the setup.
        return (
            f"PayLaterClient(base_url={self.base_url!r}, merchant_id={self.merchant_id!r}, "
            f"key_serial={self.key_serial!r})"
        )
