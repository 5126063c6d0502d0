"""Fixtures and helpers for the mock issuer's tests (tests/issuer/conftest.py registers
the fixtures): an app in test mode with one registered merchant, a
signing client for it, and helpers to walk a checkout through its lifecycle."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from paylater_sdk.issuer import Issuer, TestBuyer, create_app, get_issuer
from paylater_sdk.issuer.storage import migrate
from paylater_sdk.issuer.storage.schema import metadata
from paylater_sdk.money import Money
from paylater_sdk.signing import (
    InMemoryNonceStore,
    RequestSigner,
    generate_private_key,
    public_key_pem,
    serial_for,
    verify_response,
)

MERCHANT_ID = "m_shop"
OTHER_ID = "m_other"
API_KEY = "0123456789abcdef0123456789abcdef"
OTHER_API_KEY = "fedcba9876543210fedcba9876543210"
NOTIFY = "https://shop.example/notify"
RETURN = "https://shop.example/return"


class SignedClient:
    """Signs every request as a merchant and verifies every response's signature."""

    def __init__(self, client: FlaskClient, issuer: Issuer, merchant_id: str, key: Any) -> None:
        self.client = client
        self.issuer = issuer
        self.signer = RequestSigner(merchant_id, key, serial_for(key))
        self.nonces = InMemoryNonceStore()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
        sign: bool = True,
    ) -> Any:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        sent = dict(headers or {})
        if sign:
            sent["Authorization"] = self.signer.authorization(method, path, data)
        if data:
            sent.setdefault("Content-Type", content_type)
        response = self.client.open(path, method=method, data=data, headers=sent)
        verify_response(
            response.headers,
            response.get_data(),
            keyring=self.issuer.signing_keyring(),
            nonce_store=self.nonces,
        )
        assert response.headers["Request-Id"].startswith("req_")
        return response

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, {} if body is None else body, **kw)


def merchant_config(merchant_id: str, key: Any, api_key: str) -> dict[str, Any]:
    return {
        "id": merchant_id,
        "name": f"Shop {merchant_id}",
        "public_keys": [public_key_pem(key).decode()],
        "api_key": api_key,
        "notify_prefixes": ["https://shop.example/"],
        "return_prefixes": ["https://shop.example/"],
    }


@pytest.fixture(scope="session")
def merchant_key() -> Any:
    return generate_private_key("ed25519")


@pytest.fixture(scope="session")
def other_key() -> Any:
    return generate_private_key("ed25519")


#: Set to a PostgreSQL URL (as .ci/run does) to run every test built on the ``app``
#: fixture against PostgreSQL instead of SQLite: the issuer must run on both.
POSTGRES_URL = os.environ.get("PAYLATER_TEST_POSTGRES_URL")


def database_url(tmp_path: Any, *, empty: bool = False) -> str:
    """A database for one test with no rows in it: a new SQLite file, or on PostgreSQL the
    shared schema wiped.

    On PostgreSQL a schema the issuer already created (every table of ``metadata``, nothing
    else, at the head revision) is emptied by a ``DELETE`` of each table and a restart of
    its id sequences instead of being dropped and created again: the same empty database
    as far as the issuer can tell, for a fraction of the time (creating ~40 tables and
    their indexes is most of a test's second; ``TRUNCATE`` makes new files for every table
    and costs more than deleting a few rows). Any other schema, or ``empty=True`` (the
    migration tests, which need no tables at all), is dropped and created anew.
    """
    if not POSTGRES_URL:
        return f"sqlite:///{tmp_path / 'issuer.db'}"
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        if not empty and _issuer_schema_at_head(conn):
            conn.execute(sa.text(_EMPTY_EVERY_TABLE))
        else:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return POSTGRES_URL


#: Every issuer table emptied, children before parents, and the id sequences restarted.
_EMPTY_EVERY_TABLE = "; ".join(
    [f'DELETE FROM "{t.name}"' for t in reversed(metadata.sorted_tables)]
    + [
        f'ALTER SEQUENCE "{t.name}_{c.name}_seq" RESTART'
        for t in metadata.sorted_tables
        for c in t.columns
        if c.primary_key and c.autoincrement is True
    ]
)


def _issuer_schema_at_head(conn: Any) -> bool:
    """Whether the schema holds exactly the issuer's tables, stamped with the newest revision."""
    import sqlalchemy as sa

    tables = set(sa.inspect(conn).get_table_names())
    if tables != {t.name for t in metadata.sorted_tables} | {"alembic_version"}:
        return False
    revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return bool(revision == _head())


@functools.cache
def _head() -> str:
    """The newest revision, read from the migration scripts once per test session."""
    return migrate.head()


@pytest.fixture
def app(tmp_path: Any, merchant_key: Any, other_key: Any) -> Iterator[Flask]:
    application = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": database_url(tmp_path),
            "MERCHANTS": [
                merchant_config(MERCHANT_ID, merchant_key, API_KEY),
                merchant_config(OTHER_ID, other_key, OTHER_API_KEY),
            ],
            "NOTIFY_TRANSPORT": lambda url, headers, body, timeout: 200,
            "FAULT_TIMEOUT": 0.01,
        }
    )
    application.testing = True
    yield application
    get_issuer(application).engine.dispose()


@pytest.fixture
def issuer(app: Flask) -> Issuer:
    return get_issuer(app)


@pytest.fixture
def api(app: Flask, issuer: Issuer, merchant_key: Any) -> SignedClient:
    return SignedClient(app.test_client(), issuer, MERCHANT_ID, merchant_key)


@pytest.fixture
def other_api(app: Flask, issuer: Issuer, other_key: Any) -> SignedClient:
    return SignedClient(app.test_client(), issuer, OTHER_ID, other_key)


@pytest.fixture
def buyer(issuer: Issuer) -> TestBuyer:
    return issuer.create_buyer(limit=Money("5000.00", "CNY"))


def cny(minor: int) -> dict[str, Any]:
    return {"value": minor, "currency": "CNY"}


def checkout_body(
    out_trade_no: str = "A1001", amount: int = 120_00, **extra: Any
) -> dict[str, Any]:
    body = {
        "out_trade_no": out_trade_no,
        "amount": cny(amount),
        "description": "蓝牙耳机 Bluetooth earphones",
        "notify_url": NOTIFY,
        "return_url": RETURN,
    }
    body.update(extra)
    return body


def new_checkout(
    api: SignedClient, out_trade_no: str = "A1001", amount: int = 120_00
) -> dict[str, Any]:
    response = api.post("/v1/checkouts", checkout_body(out_trade_no, amount))
    assert response.status_code == 201, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def authorized(
    api: SignedClient,
    issuer: Issuer,
    buyer: TestBuyer,
    out_trade_no: str = "A1001",
    amount: int = 120_00,
    plan_id: str = "fenfu-6",
) -> dict[str, Any]:
    checkout = new_checkout(api, out_trade_no, amount)
    return issuer.orders.authorize(checkout["id"], buyer_id=buyer.id, plan_id=plan_id)


def balances(issuer: Issuer, buyer_id: str) -> dict[str, int]:
    import sqlalchemy as sa

    from paylater_sdk.issuer.storage.schema import buyers

    with issuer.engine.connect() as conn:
        row = conn.execute(sa.select(buyers).where(buyers.c.id == buyer_id)).one()
    return {
        "limit": row.credit_limit,
        "available": row.available,
        "held": row.held,
        "outstanding": row.outstanding,
    }
