"""``paylater bill DATE``: download a business day's trade bill, its SHA-256 checked.

The merchant credentials are ``paylater listen``'s (flags or ``PAYLATER_*`` variables).
The file is written only once its hash matches the issuer's signed answer
(``client.bills.download``, docs/settlement.md); the summary row is printed.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import datetime
from pathlib import Path

import click

from ._common import FAILED, fail
from ._merchant import build_client, merchant_options

__all__ = ["bill"]


@click.command("bill")
@click.argument("day", metavar="DATE", type=click.DateTime(formats=["%Y-%m-%d"]))
@merchant_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the gzip CSV (default: trade-bill-DATE.csv.gz here).",
)
def bill(
    day: datetime,
    base_url: str | None,
    merchant_id: str | None,
    private_key_path: Path | None,
    api_key: str | None,
    key_serial: str | None,
    out: Path | None,
) -> None:
    """Download the trade bill of DATE (YYYY-MM-DD, a day that has ended)."""
    from ..errors import PayLaterError

    dest = out or Path(f"trade-bill-{day.date()}.csv.gz")
    client = build_client(
        base_url=base_url,
        merchant_id=merchant_id,
        private_key_path=private_key_path,
        api_key=api_key,
        key_serial=key_serial,
    )
    try:
        answer = client.bills.download(day.date(), dest)
    except PayLaterError as exc:
        fail(f"bill {day.date()}: {exc.message}", FAILED)
    except OSError as exc:
        fail(f"--out {dest}: {exc.strerror or exc}", FAILED)
    finally:
        client.close()
    rows = list(csv.reader(io.StringIO(gzip.decompress(dest.read_bytes()).decode("utf-8"))))
    _, count, gross, fees, refunds, net = rows[-1]
    click.echo(f"{dest}: SHA-256 {answer.hash_value} verified")
    click.echo(f"{count} line(s): gross {gross}, merchant fee {fees}, refunds {refunds}, net {net}")
