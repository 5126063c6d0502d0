"""``AsyncPayLaterClient``: the same client for asyncio (or trio) code, through httpx.

It shares everything with :class:`PayLaterClient` but the runner: the constructor checks,
the services and their models, errors, retries, idempotency keys, signing, verification
and key rotation are the same code (:mod:`._requester`, :mod:`.services`); only the
effects are awaited (:mod:`._httpx`).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..signing import IssuerProfile, KeyRing
from ._client import ClientBase
from ._ops import Async
from ._retry import RetryPolicy

if TYPE_CHECKING:
    import httpx

    from ._httpx import AsyncRunner


class AsyncPayLaterClient(ClientBase[Async]):
    """A merchant's typed, signed, retrying connection to one issuer, for ``async`` code.

    >>> async with AsyncPayLaterClient(  # doctest: +SKIP
    ...     "https://issuer.example.com",
    ...     merchant_id="m_1001",
    ...     private_key=open("merchant_key.pem", "rb").read(),
    ...     key_serial="9A1B...",
    ...     api_key=os.environ["PAYLATER_API_KEY"],
    ... ) as client:
    ...     checkout = await client.checkouts.get("co_...")

    The constructor is :class:`PayLaterClient`'s, except that ``session`` is an
    ``httpx.AsyncClient`` (pooling, proxies, mTLS, or a test transport); every service
    method returns a coroutine of the same model. Needs httpx (``pip install
    "paylater-sdk[async]"``). Safe to share between the tasks of one event loop.
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
        session: httpx.AsyncClient | None = None,
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
        try:
            import httpx

            from ._httpx import AsyncRunner
        except ImportError:  # pragma: no cover - httpx is in the async and testing extras
            raise ConfigurationError(
                'AsyncPayLaterClient needs httpx: pip install "paylater-sdk[async]"'
            ) from None
        if session is not None and not isinstance(session, httpx.AsyncClient):
            raise ConfigurationError("session must be an httpx.AsyncClient")
        self._async: AsyncRunner = AsyncRunner(self._core, session)
        self._attach(self._async)

    async def issuer_keys(self) -> KeyRing:
        """The issuer's public keys (fetched from ``/v1/certificates`` on first use)."""
        return await self._async.run(self._core.keys())

    async def refresh_issuer_keys(self) -> KeyRing:
        """Fetch ``/v1/certificates`` now (e.g. after the issuer announced a rotation)."""
        return await self._async.run(self._refresh_op())

    async def aclose(self) -> None:
        """Close the httpx client if this client created it."""
        await self._async.close()

    async def close(self) -> None:
        """The same as :meth:`aclose` (``PayLaterClient.close``'s name)."""
        await self.aclose()

    async def __aenter__(self) -> AsyncPayLaterClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
