"""Fixtures for the example shop tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests._support.shop_fakes import FakeClient


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


#: PostgreSQL for the shop's engine tests; .ci/run sets it, locally take the URL that
#: /work/notes/services.sh (or any PostgreSQL you own) prints. The tables are recreated.
POSTGRES_ENV = "PAYLATER_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def shop_db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A fresh, empty shop database on each engine the shop supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(
                f"{POSTGRES_ENV} is not set: CI must run the shop's PostgreSQL tests "
                "(.ci/run starts PostgreSQL and exports it)"
            )
        pytest.skip(f"{POSTGRES_ENV} is not set (set it to a PostgreSQL URL to run these)")
    import sqlalchemy as sa

    # The whole schema, not the shop's tables only: an issuer test on the same database
    # leaves tables (repayment_lines, receivable_entries, ...) that refer to its `orders`,
    # a name the shop uses too.
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return url
