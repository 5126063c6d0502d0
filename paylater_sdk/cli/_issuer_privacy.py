"""``paylater issuer export-buyer`` and ``paylater issuer purge`` (personal data, PIPL).

Kept apart from :mod:`.issuer` (which registers them) so that each module stays short; the
issuer's own modules are imported when a command runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from ._common import fail
from ._issuer_app import database_errors, existing_database_option, offline_app


@click.command("export-buyer")
@existing_database_option
@click.argument("buyer_id")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON here (default: standard output).",
)
def export_buyer(database_url: str | None, buyer_id: str, output: Path | None) -> None:
    """Write everything held about a buyer as JSON (right of access).

    The buyer's line, declared figures, decision record, orders, ledger entries, devices
    seen and risk alerts; the phone number in full, since the export is for its owner.
    """
    from ..errors import NotFoundError
    from ..issuer import get_issuer

    app = offline_app(database_url)
    try:
        with database_errors(database_url):
            held = get_issuer(app).lending.export(buyer_id[:64])
    except NotFoundError:
        fail(f"no buyer {buyer_id[:64]!r} in this database", 1)
    finally:
        get_issuer(app).engine.dispose()
    text = json.dumps(held, ensure_ascii=False, indent=2, sort_keys=True)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote what is held about {buyer_id} to {output}")


@click.command("purge")
@existing_database_option
@click.option(
    "--closed-before",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Erase the personal data of accounts closed before this date (UTC), YYYY-MM-DD.",
)
def purge(database_url: str | None, closed_before: datetime) -> None:
    """Erase the personal data of closed accounts; keep the ledger.

    The phone number, declared income, debt payments and employment, decision inputs and
    device sightings go; balances, ledger entries and orders stay (the books still check).
    """
    from ..issuer import get_issuer

    app = offline_app(database_url)
    issuer = get_issuer(app)
    try:
        with database_errors(database_url):
            erased = issuer.lending.purge(closed_before.replace(tzinfo=UTC))
            problems = issuer.check_ledger()
    finally:
        issuer.engine.dispose()
    for buyer_id in erased:
        click.echo(f"erased the personal data of {buyer_id}")
    click.echo(
        f"{len(erased)} closed account(s) purged; ledger {'OK' if not problems else 'FAILED'}"
    )
