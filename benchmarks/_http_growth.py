"""The growth figures of bench_http.py: hot requests with 10 ... 100,000 purchases stored.

Each level is measured *beside* a database holding the first level's rows: two issuer
stacks run at once, one (the base) seeded with ``levels[0]`` purchases and one grown level
by level, and every sample of a request is taken on both, alternately (the order flips
from one sample to the next). A ratio is then the two medians of the same minutes. Measured
one after the other instead, the ratios read anywhere from 0.8 to 1.5 on unchanged code:
this 2-core machine's speed drifts by more than that between minutes (the hello-world's
requests/s ranged 223 to 969 over four runs), and the base level was measured on the
database the load figures had just filled with thousands of checkouts.

The rows the samples themselves add (each level's requests create a few hundred checkouts
and orders on both stacks) are the same on both sides, and small beside the grown side's.
On PostgreSQL the grown side lives in a second database beside the one given (its name
plus ``_growth``; the role needs CREATEDB, as CI's has); on SQLite, in a second file.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _http_bench import AMOUNT, Figure, Shopper, Stack

from paylater_sdk import Money

__all__ = ["growth_figures", "seed_copies"]


def growth_figures(
    url: str, folder: Path, engine: str, levels: list[int], samples: int
) -> list[Figure]:
    """Latency of the hot requests at each level, over the base level's, paired."""
    with (
        Stack(url, folder / "growth-base") as base,
        Stack(_grown_url(url, folder), folder / "growth-grown") as grown,
    ):
        grown_template = _template(grown)
        _seed(base, _template(base), levels[0] - 1)
        _seed(grown, grown_template, levels[0] - 1)
        seeded = levels[0]
        figures = []
        for level in levels[1:]:
            _seed(grown, grown_template, level - seeded)
            seeded = level
            for name, (at_base, at_level) in _paired(base, grown, samples).items():
                ratio = at_level / at_base
                figures.append(
                    Figure(
                        engine,
                        f"{name} at {level:,} rows / at {levels[0]:,}",
                        ratio,
                        "x",
                        f"{at_base:.1f} -> {at_level:.1f} ms",
                        "<= 1.3",
                        ratio <= 1.3,
                    )
                )
    return figures


def _grown_url(url: str, folder: Path) -> str:
    """A second, empty database for the grown side (created on PostgreSQL if missing)."""
    if url.startswith("sqlite"):
        return f"sqlite:///{folder / 'growth-grown.db'}"
    parsed = sa.engine.make_url(url)
    name = f"{parsed.database}_growth"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            known = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if known is None:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def _template(stack: Stack) -> str:
    """One purchase with a refund: the rows every seeded copy clones."""
    seeder = Shopper(stack, 1000)
    order_id = seeder.purchase()
    seeder.client.refunds.create(order_id, Money("1.00", "CNY"), out_refund_no="seed-r")
    return order_id


def _seed(stack: Stack, template: str, copies: int) -> None:
    if copies <= 0:
        return
    engine = sa.create_engine(stack.url)
    try:
        seed_copies(engine, template, copies)
    finally:
        engine.dispose()


def _paired(base: Stack, grown: Stack, samples: int) -> dict[str, tuple[float, float]]:
    """Each hot request's median on both stacks, samples alternating between them."""
    sides = (_hot_requests(base, samples), _hot_requests(grown, samples))
    medians = {}
    for name in sides[0]:
        times: tuple[list[float], list[float]] = ([], [])
        for n in range(samples):
            for side in (0, 1) if n % 2 == 0 else (1, 0):
                begin = time.perf_counter()
                sides[side][name]()
                times[side].append(time.perf_counter() - begin)
        medians[name] = (1000 * statistics.median(times[0]), 1000 * statistics.median(times[1]))
    return medians


def _hot_requests(stack: Stack, samples: int) -> dict[str, Callable[[], object]]:
    """The requests the issue names, each ready to be called ``samples`` times."""
    shopper = Shopper(stack, 2000 + samples)
    checkout = shopper.create()
    pending = iter([shopper.authorized() for _ in range(samples)])
    captured = shopper.purchase()
    counter = iter(range(10**9))
    eligibility_buyers = [stack.buyer() for _ in range(samples // 20 + 1)]

    def eligibility() -> object:
        buyer = eligibility_buyers[next(counter) // 20 % len(eligibility_buyers)]
        return shopper.client.credit.eligibility(buyer["buyer_token"], AMOUNT)

    return {
        "get": lambda: shopper.client.checkouts.get(checkout.id),
        "create": shopper.create,
        "capture": lambda: shopper.client.orders.capture(next(pending)),
        "refund": lambda: shopper.client.refunds.create(
            captured, Money("0.01", "CNY"), out_refund_no=uuid.uuid4().hex[:32]
        ),
        "eligibility": eligibility,
    }


def seed_copies(engine: sa.Engine, order_id: str, copies: int) -> None:
    """Insert ``copies`` clones of one purchase (checkout, order, refund, ledger entries).

    The rows are read back from the app's own tables and copied with new ids, so the
    seeding follows the schema as it is, and 100,000 purchases take seconds, not hours.
    """
    meta = sa.MetaData()
    meta.reflect(engine, only=["checkouts", "orders", "refunds", "ledger_entries"])
    orders, checkouts = meta.tables["orders"], meta.tables["checkouts"]
    refunds, ledger = meta.tables["refunds"], meta.tables["ledger_entries"]
    with engine.connect() as conn:
        order = conn.execute(sa.select(orders).where(orders.c.id == order_id)).mappings().one()
        checkout = (
            conn.execute(sa.select(checkouts).where(checkouts.c.id == order["checkout_id"]))
            .mappings()
            .one()
        )
        refund_rows = (
            conn.execute(sa.select(refunds).where(refunds.c.order_id == order_id)).mappings().all()
        )
        ledger_rows = _ledger_rows(conn, ledger, order_id)
    names = {order_id, checkout["id"], checkout["out_trade_no"]}
    names |= {r["id"] for r in refund_rows} | {r["out_refund_no"] for r in refund_rows}
    chunk = 5000
    for start in range(0, copies, chunk):
        batch = range(start, min(copies, start + chunk))
        tag = uuid.uuid4().hex[:8]
        with engine.begin() as conn:
            for table, rows in (
                (checkouts, [checkout]),
                (orders, [order]),
                (refunds, refund_rows),
                (ledger, ledger_rows),
            ):
                copied = [_copy(row, names, f"{tag}{i}", table) for i in batch for row in rows]
                if copied:
                    conn.execute(table.insert(), copied)


def _ledger_rows(conn: sa.Connection, ledger: sa.Table, order_id: str) -> list[Any]:
    text_columns = [c for c in ledger.c if isinstance(c.type, sa.String)]
    where = sa.or_(*(c == order_id for c in text_columns)) if text_columns else sa.false()
    return list(conn.execute(sa.select(ledger).where(where)).mappings().all())


def _copy(row: Any, names: set[str], suffix: str, table: sa.Table) -> dict[str, Any]:
    out = {}
    for column in table.c:
        value = row[column.key]
        if column.autoincrement is True or (column.primary_key and isinstance(value, int)):
            continue
        if column.key == "list_seq":
            value = None  # a merchant's list position is unique: copies stay off the lists
        elif isinstance(value, str) and value in names:
            limit = getattr(column.type, "length", None) or 64
            value = (value[: limit - len(suffix) - 1] + "_" + suffix)[:limit]
        out[column.key] = value
    return out
