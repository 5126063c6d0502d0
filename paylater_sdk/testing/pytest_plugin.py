"""pytest plugin (entry point ``pytest11``): fixtures ``mock_issuer`` and ``paylater_client``.

Loaded automatically once the SDK is installed. Nothing heavy is imported until a test
uses one of the fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..client import PayLaterClient
    from ._mock import MockIssuer

__all__ = ["mock_issuer", "paylater_client"]


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
