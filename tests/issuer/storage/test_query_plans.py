"""Every query on the hot paths uses an index: the plans stay flat as the tables grow.

The test runs each hot path (create, get, find, the lists, eligibility, authorize,
capture, refund, repay, void, close, the notification worker and the sweeper) with every
statement the issuer sends recorded, then asks the database for the plan of each one with
its own parameters. A table read without an index fails the test, on SQLite (``EXPLAIN QUERY
PLAN``: a bare ``SCAN``) and on PostgreSQL (``EXPLAIN`` with sequential scans disabled, so a
``Seq Scan`` means no index could serve the query).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from paylater_sdk.issuer import Issuer, TestBuyer
from paylater_sdk.issuer.storage import quickread
from tests._support.issuer import SignedClient, authorized, cny, new_checkout

# Tables whose size is bounded by configuration (keys, merchants, armed faults, one row of
# shared state per name), not by traffic: a scan there costs the same at any volume.
_BOUNDED = {
    "issuer_state",
    "issuer_keys",
    "merchants",
    "merchant_keys",
    "faults",
    "alembic_version",
}


@pytest.fixture
def statements(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """Every statement sent: through SQLAlchemy's connections (its cursor event) and as
    quick reads, which run on the driver's connection and so never reach that event."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            seen.append((statement, params))

    quick = quickread._execute

    def record_quick(dialect: Any, pooled: Any, sql: str, values: Any, **how: Any) -> Any:
        if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            seen.append((sql, values))
        return quick(dialect, pooled, sql, values, **how)

    monkeypatch.setattr(quickread, "_execute", record_quick)
    sa.event.listen(issuer.engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(issuer.engine, "before_cursor_execute", record)


def _hot_paths(api: SignedClient, issuer: Issuer, buyer: TestBuyer) -> None:
    checkout = new_checkout(api, "QP1")
    assert api.get(f"/v1/checkouts/{checkout['id']}").status_code == 200
    assert api.get("/v1/checkouts?out_trade_no=QP1").status_code == 200
    eligible = api.post(
        "/v1/credit/eligibility", {"buyer_token": buyer.buyer_token, "amount": cny(100_00)}
    )
    assert eligible.status_code == 200
    order = authorized(api, issuer, buyer, "QP2")["order"]
    captured = api.post(f"/v1/orders/{order['id']}/capture", {})
    assert captured.status_code == 200
    refund = api.post(
        "/v1/refunds", {"order_id": order["id"], "out_refund_no": "QR1", "amount": cny(10_00)}
    )
    assert refund.status_code == 201
    assert api.get(f"/v1/refunds/{refund.get_json()['id']}").status_code == 200
    repaid = issuer.orders.repay(buyer.id, order["id"], mode="PAYOFF")
    assert repaid["allocated"]
    for path in ("/v1/checkouts?limit=5", "/v1/refunds?limit=5", "/v1/events?limit=5"):
        assert api.get(path).status_code == 200
    voided = authorized(api, issuer, buyer, "QP3")["order"]
    assert api.post(f"/v1/orders/{voided['id']}/void", {}).status_code == 200
    closed = new_checkout(api, "QP4")
    assert api.post(f"/v1/checkouts/{closed['id']}/close", {}).status_code == 200
    assert issuer.deliver_pending() > 0
    issuer.sweep()


def _scans(conn: sa.Connection, statement: str, params: Any) -> list[str]:
    """The tables ``statement`` reads without an index."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
        found = []
        for row in rows:
            detail = str(row[-1])
            if (
                detail.startswith("SCAN ")
                and "USING" not in detail
                and "CONSTANT ROW" not in detail
            ):
                found.append(detail.split()[1])
        return found
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = [str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + statement, params).all()]
    return [line.split("Seq Scan on ")[1].split()[0] for line in plan if "Seq Scan on " in line]


def test_every_hot_path_query_uses_an_index(
    api: SignedClient, issuer: Issuer, buyer: TestBuyer, statements: list[tuple[str, Any]]
) -> None:
    _hot_paths(api, issuer, buyer)
    assert len(statements) > 30  # the paths above really ran their queries
    # ... quick reads included (GET /v1/checkouts/{id} is one).
    assert any("LEFT OUTER JOIN orders" in statement for statement, _ in statements)
    problems = set()
    with issuer.engine.connect() as conn:
        for statement, params in statements:
            with conn.begin():
                for table in _scans(conn, statement, params):
                    if table not in _BOUNDED:
                        problems.add(f"{table}: {' '.join(statement.split())[:400]}")
                conn.rollback()
    assert sorted(problems) == [], "\n".join(sorted(problems))
