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

import contextlib
import json
import re
import secrets
import signal
import string
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import click

from ..errors import PayLaterError
from ..signing import API_KEY_BYTES
from ._common import OneLineGroup, fail

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["issuer"]

_API_KEY_ALPHABET = string.ascii_letters + string.digits

_existing_database_option = click.option(
    "--database",
    "database_url",
    envvar="PAYLATER_DATABASE_URL",
    metavar="URL",
    help="SQLAlchemy URL of the issuer's database (required).  [env: PAYLATER_DATABASE_URL]",
)

_database_option = click.option(
    "--database",
    "database_url",
    envvar="PAYLATER_DATABASE_URL",
    metavar="URL",
    help="SQLAlchemy URL, e.g. sqlite:////var/lib/paylater/issuer.db (default: a throw-away "
    "file in test mode, else one in the app's instance folder).  [env: PAYLATER_DATABASE_URL]",
)


def _fail(message: str, code: int = 2) -> NoReturn:
    fail(message, code)


# Setting names in create_app's messages -> the flags a user of this command types.
_FLAG_FOR_SETTING = {
    "SECRET_KEY": "--secret-key",
    "TEST_MODE": "--test-mode",
    "DATABASE_URL": "--database",
    "PUBLIC_URL": "--public-url",
    "SIGNING_KEYS": "--signing-key",
    "NOTIFY_SCHEDULE": "--notify-schedule",
    "MERCHANTS": "--merchants",
    "SERVICING": "--servicing",
}
_SETTING_NAME = re.compile(r"\b(" + "|".join(_FLAG_FOR_SETTING) + r")\b")


def _in_flags(message: str) -> str:
    """``SECRET_KEY is required unless TEST_MODE`` -> ``--secret-key ... --test-mode``."""
    return _SETTING_NAME.sub(lambda m: _FLAG_FOR_SETTING[m.group(1)], message)


def _build_app(config: dict[str, Any]) -> Flask:
    """create_app with configuration errors turned into one clear line and exit code 2."""
    from ..issuer import create_app

    with _database_errors(config.get("DATABASE_URL")):
        try:
            return create_app(config)
        except (PayLaterError, ValueError) as exc:
            _fail(_in_flags(str(exc)))


@contextlib.contextmanager
def _database_errors(url: str | None) -> Iterator[None]:
    """Database trouble as one line naming --database: a URL that does not parse (exit 2),
    a driver that is not installed (exit 2), a server that cannot be reached (exit 1)."""
    import sqlalchemy as sa

    try:
        yield
    except sa.exc.ArgumentError:
        # Not echoed: a mistyped URL may still hold a password.
        _fail(
            "--database is not a SQLAlchemy URL; use e.g. sqlite:////var/lib/paylater/issuer.db "
            "or postgresql+psycopg://user@host/dbname"
        )
    except ModuleNotFoundError as exc:
        _fail(
            f"--database {_safe_url(url)} needs the database driver {exc.name!r}, which is not "
            "installed; for PostgreSQL use postgresql+psycopg:// and pip install "
            "'paylater-sdk[postgres]'"
        )
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        _fail(f"--database {_safe_url(url)}: cannot use the database: {reason}", 1)


def _safe_url(url: str | None) -> str:
    """The URL with its password masked (never printed in clear)."""
    import sqlalchemy as sa

    if url is None:
        return "(default)"
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparsable URL)"


def _offline_app(database_url: str | None) -> Flask:
    """An app for the maintenance commands: no server, no sessions, no worker.

    They act on the database a server uses, so they need its URL: a default would make a
    new, empty database (inside the source checkout, for the instance folder) and report
    on that instead.
    """
    if not database_url:
        _fail(
            "--database URL is required (or PAYLATER_DATABASE_URL): the database that "
            "'paylater issuer serve' uses"
        )
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        if not path.exists():
            _fail(f"no issuer database at {path}; start 'paylater issuer serve' first")
    config: dict[str, Any] = {"SECRET_KEY": secrets.token_hex(32), "NOTIFY_WORKER": False}
    config["DATABASE_URL"] = database_url
    return _build_app(config)


def _parse_schedule(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        _fail("--notify-schedule takes comma-separated whole seconds, e.g. 1,1,2,5")
    if not steps or any(step < 0 for step in steps):
        _fail("--notify-schedule needs at least one step, each >= 0 seconds")
    return steps


def _load_merchants(path: Path | None) -> list[Any]:
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f"cannot read merchants file {path}: {exc}")
    if not isinstance(data, list):
        _fail(f"merchants file {path} must hold a JSON list of merchant objects")
    return list(data)


def _load_servicing(path: Path | None) -> dict[str, Any] | None:
    """The SERVICING setting from a JSON object of plan id -> settings (docs/servicing.md)."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f"cannot read servicing file {path}: {exc}")
    if not isinstance(data, dict):
        _fail(f"servicing file {path} must hold a JSON object of plan id -> settings")
    return data


def _http_prefixes(name: str, values: Sequence[str]) -> list[str]:
    for value in values:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            _fail(
                f"{name} must be an http(s) URL prefix such as https://shop.example/, got {value!r}"
            )
    return list(values)


@click.group(cls=OneLineGroup)
def issuer() -> None:
    """Run and administer the mock issuer (needs the [issuer] extra)."""


@issuer.command()
@_database_option
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
        _fail("--nonce-store takes 'database' or a redis:// URL")
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
    schedule = _parse_schedule(notify_schedule)
    if schedule is not None:
        config["NOTIFY_SCHEDULE"] = schedule
    merchants = _load_merchants(merchants_file)
    if merchants:
        config["MERCHANTS"] = merchants
    servicing = _load_servicing(servicing_file)
    if servicing is not None:
        config["SERVICING"] = servicing
    app = _build_app(config)
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
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
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
@_database_option
def migrate(database_url: str | None) -> None:
    """Create or upgrade the database schema (back up first).

    The schema becomes the one this version of paylater-sdk expects.
    """
    from ..issuer.storage import migrate as migrations
    from ..issuer.storage.locking import startup_lock
    from ..issuer.storage.schema import make_engine

    if not database_url:
        _fail("give --database (or PAYLATER_DATABASE_URL): the database to migrate")
    with _database_errors(database_url):
        try:
            engine = make_engine(database_url)
        except ValueError as exc:
            _fail(str(exc))
        try:
            with migrations.migration_transaction(engine) as conn:
                startup_lock(conn)  # never beside a starting issuer or another migration
                before, after = migrations.upgrade(conn)
        except PayLaterError as exc:
            _fail(str(exc))
        finally:
            engine.dispose()
    if before is None:
        click.echo(f"created the schema at {after}")
    elif before == after:
        click.echo(f"schema already at {after}")
    else:
        click.echo(f"schema upgraded from {before} to {after}")


@issuer.command("check-ledger")
@_existing_database_option
def check_ledger(database_url: str | None) -> None:
    """Check the ledger invariant and the receivables (exit 1 if not).

    limit = available + held + outstanding for every buyer.

    Every buyer is checked, and every loan's principal, interest, fees, penalty, late fees
    and written-off amount against its schedule and payment rows; each violation is
    printed on its own line.
    """
    from ..issuer import get_issuer

    app = _offline_app(database_url)
    with _database_errors(database_url):
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


@issuer.command("add-merchant")
@_existing_database_option
@click.option("--id", "merchant_id", required=True, help="The merchant id (mchid).")
@click.option("--name", required=True, help="Shown to buyers on the consent page.")
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM public key the merchant signs requests with (repeatable; keys are only added).",
)
@click.option(
    "--api-key",
    envvar="PAYLATER_MERCHANT_API_KEY",
    metavar="TEXT",
    help="The 32-byte API key (default for a new merchant: generate one and print it once).  "
    "[env: PAYLATER_MERCHANT_API_KEY]",
)
@click.option(
    "--rotate-api-key",
    is_flag=True,
    help="Replace an existing merchant's API key (with --api-key, or a generated one).",
)
@click.option(
    "--notify-prefix",
    "notify_prefixes",
    multiple=True,
    help="Allowed notify_url prefix (repeatable; given ones replace the registered ones).",
)
@click.option(
    "--return-prefix",
    "return_prefixes",
    multiple=True,
    help="Allowed return_url prefix (repeatable; given ones replace the registered ones).",
)
@click.option(
    "--wechat",
    is_flag=True,
    help="Register a WeChat Pay v3 merchant (the /v3 face): --id is the mchid, the key is "
    "--certificate or --public-key (+ --serial), the APIv3 key is --api-key.",
)
@click.option(
    "--certificate",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="--wechat: the merchant's API certificate (PEM); its serial is the certificate's.",
)
@click.option("--serial", help="--wechat with --public-key: the certificate serial it sends.")
@click.option(
    "--key-mode",
    type=click.Choice(["public_key", "certificate"]),
    default="public_key",
    show_default=True,
    help="--wechat: how the merchant verifies answers: platform public key or certificates.",
)
@click.option("--appid", help="--wechat: the merchant's appid (shown in trade bills).")
def add_merchant(
    database_url: str | None,
    merchant_id: str,
    name: str,
    public_keys: tuple[Path, ...],
    api_key: str | None,
    rotate_api_key: bool,
    notify_prefixes: tuple[str, ...],
    return_prefixes: tuple[str, ...],
    wechat: bool,
    certificate: Path | None,
    serial: str | None,
    key_mode: str,
    appid: str | None,
) -> None:
    """Register a merchant, or update one and print what changed.

    An existing merchant keeps its API key unless --rotate-api-key is given, and keeps its
    URL prefixes unless new ones are given.
    """
    from ..issuer import get_issuer

    if wechat:
        from ._wechat import add_wechat_merchant

        merchant_id = _checked_merchant_id(merchant_id)
        app = _offline_app(database_url)
        add_wechat_merchant(
            get_issuer(app),
            merchant_id,
            name=_checked_name(name),
            public_keys=public_keys,
            certificate=certificate,
            serial=serial,
            apiv3_key=api_key,
            key_mode=key_mode,
            appid=appid,
            notify_prefixes=_http_prefixes("--notify-prefix", notify_prefixes),
        )
        return
    if not public_keys:
        _fail("--public-key is required (or --wechat with --certificate)")
    if certificate or serial or appid:
        _fail("--certificate, --serial and --appid go with --wechat")

    merchant_id = _checked_merchant_id(merchant_id)
    name = _checked_name(name)
    from ..issuer.config import is_api_key

    if api_key is not None and not is_api_key(api_key):
        _fail("--api-key must be exactly 32 bytes (WeChat Pay v3 style APIv3 key)")
    notify = _http_prefixes("--notify-prefix", notify_prefixes)
    returns = _http_prefixes("--return-prefix", return_prefixes)
    pems = [_read_public_key(path) for path in public_keys]
    app = _offline_app(database_url)
    issuer = get_issuer(app)
    with _database_errors(database_url):
        before = _merchant_state(issuer, merchant_id)
    new_key = _api_key_to_store(before, api_key, rotate_api_key)
    after: dict[str, Any] = {
        "name": name,
        "api_key": new_key or (before["api_key"] if before else ""),
        "notify_prefixes": notify or (before["notify_prefixes"] if before else []),
        "return_prefixes": returns or (before["return_prefixes"] if before else []),
    }
    try:
        with _database_errors(database_url):
            issuer.add_merchant(merchant_id, public_keys=pems, **after)
            serials = _merchant_state(issuer, merchant_id)
    except (PayLaterError, ValueError) as exc:
        _fail(str(exc))
    assert serials is not None
    _report_merchant(merchant_id, before, after, serials["serials"])
    if new_key is not None and api_key is None:
        click.echo(f"api_key: {new_key}")
        click.echo("(shown once: give it to the merchant over a safe channel)", err=True)
    if not after["notify_prefixes"]:
        click.echo(
            f"Warning: no --notify-prefix: the issuer refuses every checkout of {merchant_id} "
            "(URL_NOT_ALLOWED) until one is registered",
            err=True,
        )


def _checked_merchant_id(value: str) -> str:
    """The client's rule for the id that travels in the Authorization header."""
    from ..client._config import check_header_value

    try:
        return check_header_value("--id", value)
    except PayLaterError as exc:
        _fail(str(exc))


def _checked_name(value: str) -> str:
    """A name buyers read on the consent page: one line of 1..64 printable characters."""
    name = value.strip()
    if not name or len(name) > 64 or not name.isprintable():
        _fail("--name must be 1 to 64 printable characters on one line, e.g. '小青商店'")
    return name


def _read_public_key(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"--public-key {path}: cannot read it ({type(exc).__name__})")


def _merchant_state(issuer: Any, merchant_id: str) -> dict[str, Any] | None:
    """What add-merchant may change, as stored now (None: no such merchant)."""
    import sqlalchemy as sa

    from ..issuer.storage.schema import merchant_keys

    row = issuer.merchant(merchant_id)
    if row is None:
        return None
    with issuer.engine.connect() as conn:
        serials = conn.execute(
            sa.select(merchant_keys.c.serial).where(merchant_keys.c.merchant_id == merchant_id)
        ).scalars()
        known = sorted(serials)
    return {
        "name": row.name,
        "api_key": row.api_key,
        "notify_prefixes": json.loads(row.notify_prefixes),
        "return_prefixes": json.loads(row.return_prefixes),
        "serials": known,
    }


def _api_key_to_store(before: dict[str, Any] | None, given: str | None, rotate: bool) -> str | None:
    """The new API key, or None to keep the stored one; never a silent replacement."""
    if before is None or rotate:
        return given or "".join(secrets.choice(_API_KEY_ALPHABET) for _ in range(API_KEY_BYTES))
    if given is not None and given != before["api_key"]:
        _fail(
            "--api-key differs from the API key the merchant already has; pass --rotate-api-key "
            "to replace it (the merchant's requests with the old key then fail)"
        )
    return None


def _report_merchant(
    merchant_id: str, before: dict[str, Any] | None, after: dict[str, Any], serials: list[str]
) -> None:
    if before is None:
        click.echo(f"merchant {merchant_id} registered (keys {', '.join(serials)})")
        return
    changes = [
        f"{field.replace('_', ' ')}: {before[field]!r} -> {after[field]!r}"
        for field in ("name", "notify_prefixes", "return_prefixes")
        if before[field] != after[field]
    ]
    if before["api_key"] != after["api_key"]:
        changes.append("api key: replaced")
    added = [serial for serial in serials if serial not in before["serials"]]
    if added:
        changes.append(f"public keys added: {', '.join(added)}")
    summary = "; ".join(changes) if changes else "nothing changed"
    click.echo(f"merchant {merchant_id} updated: {summary}")


@issuer.command("rotate-key")
@_existing_database_option
@click.option(
    "--alg",
    type=click.Choice(["ed25519", "rsa"]),
    default="ed25519",
    show_default=True,
    help="Algorithm of the new signing key.",
)
def rotate_key(database_url: str | None, alg: str) -> None:
    """Make a new signing key current (the old one stays valid 24 h)."""
    from ..issuer import get_issuer

    app = _offline_app(database_url)
    try:
        with _database_errors(database_url):
            serial = get_issuer(app).rotate_signing_key(alg)
    except (PayLaterError, ValueError) as exc:
        _fail(str(exc))
    click.echo(serial)


from ._issuer_privacy import export_buyer, purge  # noqa: E402 - registered on the group

issuer.add_command(export_buyer)
issuer.add_command(purge)
