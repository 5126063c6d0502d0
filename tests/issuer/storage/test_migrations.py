"""Schema migrations: a version-1 database is refused until migrated, then equals a new one."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from paylater_sdk.cli import main
from paylater_sdk.errors import ConfigurationError
from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.issuer.storage import migrate
from paylater_sdk.issuer.storage.schema import issuer_keys, make_engine, metadata
from tests._support.issuer import database_url


def _version_1_database(url: str) -> None:
    """What paylater-sdk 0.1 left: its tables, schema_version 1, no alembic table, and
    two active signing keys (the start-up race that revision 0002 closes)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "0001")
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.execute(sa.text("INSERT INTO schema_version (version, applied_at) VALUES (1, 0)"))
        for serial, created in (("old", 1), ("new", 2)):
            conn.execute(
                issuer_keys.insert().values(
                    serial=serial,
                    algorithm="ED25519",
                    private_pem="-",
                    created_at=created,
                    not_after=None,
                    active=True,
                )
            )
    engine.dispose()


def _differences(url: str) -> list[Any]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    return list(found)


def test_an_older_schema_is_refused_with_what_to_run(tmp_path: Any) -> None:
    url = database_url(tmp_path, empty=True)
    _version_1_database(url)
    with pytest.raises(ConfigurationError) as refused:
        create_app({"TEST_MODE": True, "DATABASE_URL": url})
    message = str(refused.value)
    assert "revision 0001, this issuer needs 0009" in message
    assert "run 'paylater issuer migrate --database " in message


def test_migrate_upgrades_a_version_1_database(tmp_path: Any) -> None:
    url = database_url(tmp_path, empty=True)
    _version_1_database(url)
    result = CliRunner().invoke(main, ["issuer", "migrate", "--database", url])
    assert result.exit_code == 0, result.output
    assert "schema upgraded from 0001 to 0009" in result.output
    assert _differences(url) == []  # the same schema as a database created new
    engine = make_engine(url)
    with engine.connect() as conn:
        active = conn.execute(
            sa.select(issuer_keys.c.serial).where(issuer_keys.c.active == sa.true())
        ).scalars()
        assert list(active) == ["new"]  # the newest of the two active keys is kept
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert "schema_version" not in tables
    assert {"seen_nonces", "rate_counters", "alembic_version"} <= tables
    again = CliRunner().invoke(main, ["issuer", "migrate", "--database", url])
    assert again.exit_code == 0, again.output
    assert "already at 0009" in again.output


def test_a_new_database_matches_the_migrations(tmp_path: Any) -> None:
    """Created by the issuer (create_all + stamp) or by running every migration: equal."""
    url = database_url(tmp_path, empty=True)
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "head")
    engine.dispose()
    assert _differences(url) == []
    app = create_app({"TEST_MODE": True, "DATABASE_URL": url})  # accepted as current
    get_issuer(app).engine.dispose()


def test_migrate_creates_an_empty_database(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = CliRunner().invoke(main, ["issuer", "migrate", "--database", url])
    assert result.exit_code == 0, result.output
    assert "created the schema at 0009" in result.output
    app = create_app({"TEST_MODE": True, "DATABASE_URL": url})
    get_issuer(app).engine.dispose()


def test_a_database_of_something_else_is_refused(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(ConfigurationError, match="no issuer schema revision"):
        create_app({"TEST_MODE": True, "DATABASE_URL": url})
    result = CliRunner().invoke(main, ["issuer", "migrate", "--database", url])
    assert result.exit_code == 2
    assert result.output.startswith("Error: the database has tables but no issuer schema")


def test_0003_converts_clear_phones_to_a_keyed_hash_and_a_sealed_copy(tmp_path: Any) -> None:
    """A 0002 database with buyers: after the upgrade no table holds the phone in clear,
    the buyer is found by its phone, and the sealed copy opens to the same number."""
    url = database_url(tmp_path, empty=True)
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "0002")
        conn.execute(
            sa.text(
                "INSERT INTO buyers (id, buyer_token, phone, test_code, currency, credit_limit,"
                " available, held, outstanding, status, overdue_flag, overdue, created_at)"
                " VALUES ('byr_old', 'bt_old', '13912345678', '123456', 'CNY', 100000,"
                " 100000, 0, 0, 'ACTIVE', false, false, 1)"
            )
        )
        command.upgrade(migrate._config(conn), "head")
    with engine.connect() as conn:
        dump = repr([conn.execute(sa.text(f"SELECT * FROM {t}")).all() for t in metadata.tables])
    engine.dispose()
    assert "13912345678" not in dump
    assert _differences(url) == []
    issuer = get_issuer(create_app({"TEST_MODE": True, "DATABASE_URL": url}))
    found = issuer.buyer_by_phone("13912345678")
    assert found is not None
    assert found.id == "byr_old"
    with issuer.engine.connect() as conn:
        sealed = conn.execute(sa.text("SELECT phone_enc FROM buyers WHERE id = 'byr_old'")).scalar()
    assert issuer.phones.open(sealed) == "13912345678"
    assert issuer.phones.masked(sealed) == "139****5678"
    issuer.engine.dispose()


def test_revision_0006_backfills_the_receivables_of_older_loans(
    api: Any, issuer: Any, buyer: Any
) -> None:
    """A loan opened before servicing has no receivable entries: the migration adds them
    (the unpaid interest and fees), and the books balance again."""
    import importlib.util
    from pathlib import Path

    from paylater_sdk.issuer.storage.schema import receivable_entries
    from tests._support.issuer import authorized

    order_id = authorized(api, issuer, buyer)["order"]["id"]
    assert api.post(f"/v1/orders/{order_id}/capture", {}).status_code == 200
    with issuer.engine.begin() as conn:
        conn.execute(receivable_entries.delete())
    assert any("FEE receivable 0 != 432" in p for p in issuer.check_ledger())
    path = Path(migrate.__file__).parent / "migrations" / "versions" / "0006_servicing.py"
    spec = importlib.util.spec_from_file_location("rev_0006", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with issuer.engine.begin() as conn:
        module.backfill_receivables(conn)
    assert issuer.check_ledger() == []


def _rows_at_0002(url: str) -> None:
    """A database at revision 0002 holding two merchants' checkouts, an order, a refund
    and notifications (created_at ties included), as revision 0005 finds them."""
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate._config(conn), "0002")
        meta = sa.MetaData()
        table = {n: sa.Table(n, meta, autoload_with=conn) for n in (
            "merchants", "buyers", "checkouts", "orders", "refunds", "notifications")}  # fmt: skip
        for m in ("m1", "m2"):
            conn.execute(table["merchants"].insert().values(
                id=m, name=m, api_key="k" * 32, notify_prefixes="[]", return_prefixes="[]",
                created_at=0))  # fmt: skip
        conn.execute(table["buyers"].insert().values(
            id="b1", buyer_token="bt_1", phone="13800000001", test_code="123456", currency="CNY",
            credit_limit=0, available=0, held=0, outstanding=0, single_purchase_max=None,
            status="ACTIVE", overdue_flag=False, overdue=False, created_at=0))  # fmt: skip
        for checkout_id, merchant, trade_no, created in (
            ("co_b", "m1", "T2", 100),
            ("co_a", "m1", "T1", 100),
            ("co_c", "m2", "T3", 50),
        ):
            conn.execute(table["checkouts"].insert().values(
                id=checkout_id, merchant_id=merchant, out_trade_no=trade_no, state="CAPTURED",
                amount=100, currency="CNY", description="d", notify_url="https://x/n",
                return_url="https://x/r", plans_json="[]", authorize_url="https://i/a",
                created_at=created, expires_at=created + 60))  # fmt: skip
        conn.execute(table["orders"].insert().values(
            id="ord_a", checkout_id="co_a", merchant_id="m1", buyer_id="b1", state="CAPTURED",
            currency="CNY", amount=100, held=0, captured_amount=100, refunded_amount=10,
            plan_id="p", plan_json="{}", schedule_json=None, next_due_on=None, authorized_at=100,
            authorization_expires_at=200, captured_at=100, version=0))  # fmt: skip
        conn.execute(table["refunds"].insert().values(
            id="rf_a", order_id="ord_a", merchant_id="m1", out_refund_no="R1", amount=10,
            currency="CNY", reason=None, state="SUCCEEDED", created_at=150))  # fmt: skip
        for event_id, resource in (
            ("evt_1", '{"id": "co_a", "out_trade_no": "T1"}'),
            ("evt_2", '{"id": "rf_a", "order_id": "ord_a"}'),
        ):
            conn.execute(table["notifications"].insert().values(
                id=event_id, merchant_id="m1", notify_url="https://x/n", event_type="X",
                original_type="checkout", summary="", resource=resource, state="DELIVERED",
                attempts=1, round_start=0, created_at=150, seq=int(event_id[-1]),
                next_attempt_at=None, delivered_at=150, last_status=200,
                last_error=None))  # fmt: skip
    engine.dispose()


def test_migration_0005_numbers_existing_rows_and_starts_counters_past_them(
    tmp_path: Any,
) -> None:
    url = database_url(tmp_path, empty=True)
    _rows_at_0002(url)
    result = CliRunner().invoke(main, ["issuer", "migrate", "--database", url])
    assert result.exit_code == 0, result.output
    assert _differences(url) == []
    engine = make_engine(url)
    with engine.connect() as conn:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in conn.execute(sa.text(sql))]

        # oldest first by (created_at, id): co_a before co_b at the same second
        assert rows("SELECT id, list_seq FROM checkouts ORDER BY id") == [
            ("co_a", 1), ("co_b", 2), ("co_c", 1)]  # fmt: skip
        assert rows("SELECT id, list_seq, metadata_json FROM refunds") == [("rf_a", 1, "{}")]
        assert rows("SELECT id, list_seq, out_trade_no FROM notifications ORDER BY id") == [
            ("evt_1", 1, "T1"), ("evt_2", 2, "T1")]  # fmt: skip
        assert rows("SELECT merchant_id, value FROM list_counters ORDER BY merchant_id") == [
            ("m1", 2), ("m2", 1)]  # fmt: skip
        assert rows("SELECT metadata_json FROM orders") == [("{}",)]
    engine.dispose()
