"""The reference servers bench_http.py measures the issuer against (run as a subprocess).

``python benchmarks/_http_servers.py hello PORT`` serves a Flask hello-world (and a
``POST /notify`` sink that answers 200, where the issuer's worker delivers notifications);
``python benchmarks/_http_servers.py insert PORT DATABASE_URL`` serves a Flask endpoint that
does one INSERT and one COMMIT per request on the given database. Both run on waitress with
the same thread count as ``paylater issuer serve``'s default, so the only difference from the
issuer is the work each request does.
"""

from __future__ import annotations

import itertools
import sys

import sqlalchemy as sa
import waitress
from flask import Flask

THREADS = 8


def hello_app() -> Flask:
    app = Flask("hello")

    @app.get("/")
    def hello() -> str:
        return "hello"

    @app.post("/notify")
    def notify() -> tuple[str, int]:
        return "", 200

    return app


def insert_app(url: str) -> Flask:
    engine = sa.create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
    if url.startswith("sqlite"):

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_conn: object, _record: object) -> None:
            cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    metadata = sa.MetaData()
    rows = sa.Table(
        "bench_rows",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("payload", sa.String(64), nullable=False),
    )
    metadata.create_all(engine)
    counter = itertools.count()
    app = Flask("insert")

    @app.post("/insert")
    def insert() -> str:
        with engine.begin() as conn:
            conn.execute(rows.insert().values(payload=f"row-{next(counter)}"))
        return "ok"

    return app


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    app = hello_app() if kind == "hello" else insert_app(sys.argv[3])
    waitress.serve(app, host="127.0.0.1", port=port, threads=THREADS, _quiet=True)


if __name__ == "__main__":
    main()
