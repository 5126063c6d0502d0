"""Issuer performance over real HTTP, measured against the same server's own ceiling.

For each engine (SQLite in WAL mode; PostgreSQL when ``--postgres URL`` or
``PAYLATER_TEST_POSTGRES_URL`` names a database this script may fill) it starts, on loopback:

- ``paylater issuer serve`` in test mode (waitress, 8 threads, an Ed25519 merchant key, the
  notification worker delivering to the sink below);
- a Flask hello-world on the same server (``_http_servers.py hello``; also the sink);
- a Flask endpoint doing one INSERT + COMMIT on the same database (``_http_servers.py insert``);

then drives them with real client threads (the public ``PayLaterClient`` for signed calls, a
``requests`` session for the buyer's consent pages) and prints one table: every figure of the
performance issue beside its baseline (the issue's measurement before the work) and its floor.
Server CPU is read from ``/proc/<pid>/stat`` (all threads of the server process), so client
work never counts. The growth figures run on two more issuers of their own, one at the base
level and one grown, sampled alternately (``_http_growth.py``; on PostgreSQL the grown one
uses a second database, the given one's name plus ``_growth``, which needs CREATEDB).
``--quick`` makes every run short (CI runs it so the script cannot rot);
its figures are noisy and only the full run is compared with the floors in
docs/performance.md.

Run: ``python benchmarks/bench_http.py`` (about 5 minutes per engine) or ``--quick``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _http_bench import Figure, Stack, load_figures, multiprocess_figures, print_table
from _http_growth import growth_figures


def _engines(args: argparse.Namespace, folder: Path) -> list[tuple[str, str]]:
    engines = []
    if "sqlite" in args.engines:
        engines.append(("SQLite", f"sqlite:///{folder / 'issuer.db'}"))
    pg = args.postgres or os.environ.get("PAYLATER_TEST_POSTGRES_URL")
    if "postgres" in args.engines and pg:
        engines.append(("PostgreSQL", pg))
    return engines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (CI)")
    parser.add_argument("--engines", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument("--postgres", help="a PostgreSQL URL this script may fill")
    parser.add_argument(
        "--rows", default=None, help="growth levels, e.g. 10,1000,100000 (quick: 10,1000)"
    )
    args = parser.parse_args(argv)
    levels = [
        int(n) for n in (args.rows or ("10,1000" if args.quick else "10,1000,100000")).split(",")
    ]
    duration = 1.5 if args.quick else 8.0
    figures: list[Figure] = []
    folder = Path(tempfile.mkdtemp(prefix="bench-http-"))
    started = time.monotonic()
    for name, url in _engines(args, folder):
        with Stack(url, folder / name.lower()) as stack:
            figures += load_figures(stack, name, duration)
        samples = 15 if args.quick else 120
        figures += growth_figures(url, folder / name.lower(), name, levels, samples)
        if name == "PostgreSQL":
            figures += multiprocess_figures(url, folder / "mp", duration)
    load = os.getloadavg()
    print_table(figures, quick=args.quick)
    print(
        f"\nload average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on "
        f"{os.cpu_count()} cores; {time.monotonic() - started:.0f} s in all"
    )
    return 0 if figures else 1


if __name__ == "__main__":
    raise SystemExit(main())
