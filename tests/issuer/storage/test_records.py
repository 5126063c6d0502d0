"""Every typed record names exactly its table's columns, with their Python types."""

from __future__ import annotations

import typing

import pytest
import sqlalchemy as sa

from paylater_sdk.issuer.storage import records, schema

_PYTHON_TYPE = {
    sa.String: str,
    sa.Text: str,
    sa.Integer: int,
    sa.BigInteger: int,
    sa.SmallInteger: int,
    sa.Boolean: bool,
    sa.LargeBinary: bytes,
}


def _python_type(column: sa.Column[typing.Any]) -> object:
    for sql_type, py in _PYTHON_TYPE.items():
        if type(column.type) is sql_type:
            return py | None if column.nullable else py
    raise AssertionError(f"{column} has a type the records do not map: {column.type!r}")


@pytest.mark.parametrize("table_name", sorted(records.RECORDS))
def test_a_record_is_its_tables_columns(table_name: str) -> None:
    record = records.RECORDS[table_name]
    declared = typing.get_type_hints(record)
    table = schema.metadata.tables[table_name]
    assert list(declared) == [c.name for c in table.c]
    for column in table.c:
        assert declared[column.name] == _python_type(column), column.name


def test_every_record_is_listed_and_exported() -> None:
    protocols = {
        name
        for name, value in vars(records).items()
        if isinstance(value, type) and name.endswith("Row")
    }
    assert protocols == {r.__name__ for r in records.RECORDS.values()}
    assert protocols <= set(records.__all__)


def test_a_row_is_read_through_its_record(tmp_path: object) -> None:
    # The records describe what a query really returns: a Row answers every declared name.
    engine = sa.create_engine("sqlite://")
    schema.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            schema.merchants.insert().values(
                id="m_1",
                name="小青商店",
                api_key="k" * 32,
                notify_prefixes="[]",
                return_prefixes="[]",
                created_at=1,
            )
        )
        row = conn.execute(sa.select(schema.merchants)).one()
    merchant: records.MerchantRow = row
    assert (merchant.id, merchant.name, merchant.created_at) == ("m_1", "小青商店", 1)
    assert set(typing.get_type_hints(records.MerchantRow)) == set(row._fields)
