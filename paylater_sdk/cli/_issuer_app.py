"""What the ``paylater issuer`` commands share: the --database options, building the app
(configuration and database trouble as one clear line), and the option parsers.

Kept apart from :mod:`.issuer` so each command module stays short; everything imports
Flask and SQLAlchemy lazily, when a command runs, to keep ``paylater --help`` fast.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from ..errors import PayLaterError
from ._common import fail

if TYPE_CHECKING:
    from flask import Flask

existing_database_option = click.option(
    "--database",
    "database_url",
    envvar="PAYLATER_DATABASE_URL",
    metavar="URL",
    help="SQLAlchemy URL of the issuer's database (required).  [env: PAYLATER_DATABASE_URL]",
)

database_option = click.option(
    "--database",
    "database_url",
    envvar="PAYLATER_DATABASE_URL",
    metavar="URL",
    help="SQLAlchemy URL, e.g. sqlite:////var/lib/paylater/issuer.db (default: a throw-away "
    "file in test mode, else one in the app's instance folder).  [env: PAYLATER_DATABASE_URL]",
)


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


def build_app(config: dict[str, Any]) -> Flask:
    """create_app with configuration errors turned into one clear line and exit code 2."""
    from ..issuer import create_app

    with database_errors(config.get("DATABASE_URL")):
        try:
            return create_app(config)
        except (PayLaterError, ValueError) as exc:
            fail(_in_flags(str(exc)))


@contextlib.contextmanager
def database_errors(url: str | None) -> Iterator[None]:
    """Database trouble as one line naming --database: a URL that does not parse (exit 2),
    a driver that is not installed (exit 2), a server that cannot be reached (exit 1)."""
    import sqlalchemy as sa

    try:
        yield
    except sa.exc.ArgumentError:
        # Not echoed: a mistyped URL may still hold a password.
        fail(
            "--database is not a SQLAlchemy URL; use e.g. sqlite:////var/lib/paylater/issuer.db "
            "or postgresql+psycopg://user@host/dbname"
        )
    except ModuleNotFoundError as exc:
        fail(
            f"--database {_safe_url(url)} needs the database driver {exc.name!r}, which is not "
            "installed; for PostgreSQL use postgresql+psycopg:// and pip install "
            "'paylater-sdk[postgres]'"
        )
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        fail(f"--database {_safe_url(url)}: cannot use the database: {reason}", 1)


def _safe_url(url: str | None) -> str:
    """The URL with its password masked (never printed in clear)."""
    import sqlalchemy as sa

    if url is None:
        return "(default)"
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparsable URL)"


def offline_app(database_url: str | None) -> Flask:
    """An app for the maintenance commands: no server, no sessions, no worker.

    They act on the database a server uses, so they need its URL: a default would make a
    new, empty database (inside the source checkout, for the instance folder) and report
    on that instead.
    """
    if not database_url:
        fail(
            "--database URL is required (or PAYLATER_DATABASE_URL): the database that "
            "'paylater issuer serve' uses"
        )
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        if not path.exists():
            fail(f"no issuer database at {path}; start 'paylater issuer serve' first")
    config: dict[str, Any] = {"SECRET_KEY": secrets.token_hex(32), "NOTIFY_WORKER": False}
    config["DATABASE_URL"] = database_url
    return build_app(config)


def parse_schedule(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail("--notify-schedule takes comma-separated whole seconds, e.g. 1,1,2,5")
    if not steps or any(step < 0 for step in steps):
        fail("--notify-schedule needs at least one step, each >= 0 seconds")
    return steps


def load_merchants(path: Path | None) -> list[Any]:
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"cannot read merchants file {path}: {exc}")
    if not isinstance(data, list):
        fail(f"merchants file {path} must hold a JSON list of merchant objects")
    return list(data)


def load_servicing(path: Path | None) -> dict[str, Any] | None:
    """The SERVICING setting from a JSON object of plan id -> settings (docs/servicing.md)."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"cannot read servicing file {path}: {exc}")
    if not isinstance(data, dict):
        fail(f"servicing file {path} must hold a JSON object of plan id -> settings")
    return data


def http_prefixes(name: str, values: Sequence[str]) -> list[str]:
    for value in values:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            fail(
                f"{name} must be an http(s) URL prefix such as https://shop.example/, got {value!r}"
            )
    return list(values)
