"""pytest plugin (entry point ``pytest11``): fixtures ``mock_issuer``, ``paylater_client``
and ``async_paylater_client``.

Loaded automatically once the SDK is installed. Nothing heavy is imported until a test
uses one of the fixtures. ``async_paylater_client`` is a plain (synchronous) fixture that
returns an :class:`~paylater_sdk.client.AsyncPayLaterClient`, so it works with whichever
async test runner a suite uses (anyio's ``@pytest.mark.anyio``, pytest-asyncio, or
``asyncio.run`` in the test).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..client import AsyncPayLaterClient, PayLaterClient
    from ._mock import MockIssuer

__all__ = ["async_paylater_client", "mock_issuer", "paylater_client"]


@pytest.fixture
def mock_issuer() -> Iterator[MockIssuer]:
    """A fresh in-process mock issuer; HTTP to ``https://issuer.paylater.test`` reaches it."""
    from ._mock import MockIssuer

    with MockIssuer() as issuer:
        yield issuer


@pytest.fixture
def paylater_client(mock_issuer: MockIssuer) -> Iterator[PayLaterClient]:
    """A ``PayLaterClient`` for the mock issuer's test merchant."""
    with mock_issuer.client() as client:
        yield client


@pytest.fixture
def async_paylater_client(mock_issuer: MockIssuer) -> Iterator[AsyncPayLaterClient]:
    """An ``AsyncPayLaterClient`` for the mock issuer's test merchant (closed afterwards)."""
    from ._notify import run_coroutine

    client = mock_issuer.async_client()
    yield client
    run_coroutine(client.aclose)
