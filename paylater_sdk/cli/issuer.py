"""``paylater issuer``: run and administer the mock issuer.

``serve`` runs the Flask app under waitress (a production-grade pure-Python WSGI server,
so the sandbox behaves like a real deployment: threads, keep-alive, no debug reloader)
with the notification worker on. The other commands act on the same database without a
server: ``check-ledger`` (exit 1 on any violation of the ledger invariant, for cron and
CI), ``add-merchant`` and ``rotate-key``.

Every option can also come from an environment variable (``PAYLATER_DATABASE_URL``,
``PAYLATER_SECRET_KEY``, ...) so that secrets need not appear on a command line, where
other users of the machine could read them.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import PayLaterError
from ._common import OneLineGroup, fail
from ._issuer_app import (
    build_app,
    database_errors,
    database_option,
    existing_database_option,
    load_merchants,
    load_servicing,
    offline_app,
    parse_schedule,
)

if TYPE_CHECKING:
    pass

__all__ = ["issuer"]


@click.group(cls=OneLineGroup)
def issuer() -> None:
    """Run and administer the mock issuer (needs the [issuer] extra)."""


@issuer.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--test-mode/--no-test-mode",
    envvar="PAYLATER_TEST_MODE",
    default=False,
    help="Enable the /_test controls, the test clock and magic buyer tokens.",
)
@click.option(
    "--secret-key",
    envvar="PAYLATER_SECRET_KEY",
    metavar="TEXT",
    help="Signs the consent page's session cookie; required unless --test-mode.  "
    "[env: PAYLATER_SECRET_KEY]",
)
@click.option("--public-url", metavar="URL", help="Base URL of authorize_url links.")
@click.option(
    "--signing-key",
    "signing_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="PEM private key for response signatures (repeatable; default: generated once).",
)
@click.option(
    "--merchants",
    "merchants_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON list of merchants to register at start (same shape as the MERCHANTS setting).",
)
@click.option(
    "--servicing",
    "servicing_file",
    envvar="PAYLATER_SERVICING",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON object of plan id -> servicing settings (the SERVICING setting: due_day, "
    "payoff_fees, grace_days, cap_table, ...).  [env: PAYLATER_SERVICING]",
)
@click.option(
    "--notify-schedule",
    metavar="S1,S2,...",
    help="Seconds between notification retries (default: WeChat Pay's 15,15,30,180,...).",
)
@click.option(
    "--nonce-store",
    envvar="PAYLATER_NONCE_STORE",
    default="database",
    show_default=True,
    metavar="database|redis://...",
    help="Where seen request nonces live, shared by every process of this issuer: its "
    "database, or a Redis URL such as redis://127.0.0.1:6379/0.  [env: PAYLATER_NONCE_STORE]",
)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option(
    "--worker/--no-worker", default=True, show_default=True, help="Deliver notifications."
)
@click.option(
    "--wechat-compat",
    is_flag=True,
    help="Let every merchant use the WeChat Pay v3 face (/v3), its API key as APIv3 key "
    "(merchants added with add-merchant --wechat can use it anyway).",
)
@click.option(
    "--wechat-key-mode",
    type=click.Choice(["public_key", "certificate"]),
    default="public_key",
    show_default=True,
    help="How /v3 names the platform key for --wechat-compat merchants: a PUB_KEY_ID_... "
    "public key id, or the platform certificate's serial.",
)
def serve(
    database_url: str | None,
    host: str,
    port: int,
    test_mode: bool,
    secret_key: str | None,
    public_url: str | None,
    signing_keys: tuple[str, ...],
    merchants_file: Path | None,
    servicing_file: Path | None,
    notify_schedule: str | None,
    nonce_store: str,
    threads: int,
    worker: bool,
    wechat_compat: bool,
    wechat_key_mode: str,
) -> None:
    """Serve the issuer with waitress and the notification worker."""
    import waitress

    if nonce_store != "database" and not nonce_store.startswith(("redis://", "rediss://")):
        fail("--nonce-store takes 'database' or a redis:// URL")
    config: dict[str, Any] = {
        "TEST_MODE": test_mode,
        "NOTIFY_WORKER": worker,
        "NONCE_STORE": nonce_store,
    }
    if wechat_compat:
        config["WECHAT_COMPAT"] = True
        config["WECHAT_KEY_MODE"] = wechat_key_mode
    if database_url:
        config["DATABASE_URL"] = database_url
    if secret_key:
        config["SECRET_KEY"] = secret_key
    if public_url:
        config["PUBLIC_URL"] = public_url
    if signing_keys:
        config["SIGNING_KEYS"] = list(signing_keys)
    schedule = parse_schedule(notify_schedule)
    if schedule is not None:
        config["NOTIFY_SCHEDULE"] = schedule
    merchants = load_merchants(merchants_file)
    if merchants:
        config["MERCHANTS"] = merchants
    servicing = load_servicing(servicing_file)
    if servicing is not None:
        config["SERVICING"] = servicing
    app = build_app(config)
    if test_mode and host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            "Warning: test mode exposes /_test controls; bind to 127.0.0.1 unless you mean it.",
            err=True,
        )
    try:
        server = waitress.create_server(
            app, host=host, port=port, threads=threads, ident="paylater-issuer"
        )
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    mode = "TEST MODE" if test_mode else "live mode"
    from ..issuer import get_issuer

    where = get_issuer(app).engine.url.render_as_string(hide_password=True)
    click.echo(f"paylater issuer ({mode}), database {where}", err=True)
    # The effective port matters with --port 0 (pick a free one): scripts read this line.
    click.echo(f"Serving on http://{server.effective_host}:{server.effective_port}", err=True)
    # SIGTERM (docker stop, systemd) ends like Ctrl-C, so exit handlers stop the worker.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        click.echo("paylater issuer stopped", err=True)


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(0)


@issuer.command()
@database_option
def migrate(database_url: str | None) -> None:
    """Create or upgrade the database schema (back up first).

    The schema becomes the one this version of paylater-sdk expects.
    """
    from ..issuer.storage import migrate as migrations
    from ..issuer.storage.locking import startup_lock
    from ..issuer.storage.schema import make_engine

    if not database_url:
        fail("give --database (or PAYLATER_DATABASE_URL): the database to migrate")
    with database_errors(database_url):
        try:
            engine = make_engine(database_url)
        except ValueError as exc:
            fail(str(exc))
        try:
            with migrations.migration_transaction(engine) as conn:
                startup_lock(conn)  # never beside a starting issuer or another migration
                before, after = migrations.upgrade(conn)
        except PayLaterError as exc:
            fail(str(exc))
        finally:
            engine.dispose()
    if before is None:
        click.echo(f"created the schema at {after}")
    elif before == after:
        click.echo(f"schema already at {after}")
    else:
        click.echo(f"schema upgraded from {before} to {after}")


@issuer.command("check-ledger")
@existing_database_option
def check_ledger(database_url: str | None) -> None:
    """Check the ledger invariant and the receivables (exit 1 if not).

    limit = available + held + outstanding for every buyer.

    Every buyer is checked, and every loan's principal, interest, fees, penalty, late fees
    and written-off amount against its schedule and payment rows; each violation is
    printed on its own line.
    """
    from ..issuer import get_issuer

    app = offline_app(database_url)
    with database_errors(database_url):
        violations = get_issuer(app).check_ledger()
    if violations:
        for line in violations:
            click.echo(line)
        click.echo(f"ledger check FAILED: {len(violations)} violation(s)", err=True)
        sys.exit(1)
    click.echo(
        "ledger OK: limit = available + held + outstanding for every buyer; "
        "receivables match every loan"
    )


from ._issuer_merchants import add_merchant, rotate_key  # noqa: E402 - registered on the group
from ._issuer_privacy import export_buyer, purge  # noqa: E402

for _command in (add_merchant, rotate_key, export_buyer, purge):
    issuer.add_command(_command)
