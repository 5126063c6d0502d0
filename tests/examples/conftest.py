"""Fixtures for the example shop tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from shop_fakes import FakeClient


@pytest.fixture
def fake_client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def fake_shop(tmp_path: Any, fake_client: FakeClient) -> Iterator[Any]:
    from examples.merchant_flask import create_app

    app = create_app(
        {
            "SECRET_KEY": "test-secret-key-0123456789",
            "ADMIN_PASSWORD": "admin-password",
            "PAYLATER_CLIENT": fake_client,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
            "PUBLIC_URL": "http://shop.test",
        }
    )
    yield app
    app.extensions["shop"]["engine"].dispose()
