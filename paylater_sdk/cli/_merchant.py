"""The merchant credentials ``paylater listen`` and ``paylater trigger`` act with.

The same four settings the example shop reads (``PAYLATER_BASE_URL``,
``PAYLATER_MERCHANT_ID``, ``PAYLATER_PRIVATE_KEY``, ``PAYLATER_API_KEY``, optional
``PAYLATER_KEY_SERIAL``), as flags or, better for the secrets, environment variables:
like every ``paylater`` option, so that the API key need not appear on a command line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ._common import fail

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option(
        "--issuer",
        "base_url",
        envvar="PAYLATER_BASE_URL",
        metavar="URL",
        help="The issuer's base URL (required).  [env: PAYLATER_BASE_URL]",
    ),
    click.option(
        "--merchant-id",
        envvar="PAYLATER_MERCHANT_ID",
        metavar="ID",
        help="Your merchant id (required).  [env: PAYLATER_MERCHANT_ID]",
    ),
    click.option(
        "--private-key",
        "private_key_path",
        envvar="PAYLATER_PRIVATE_KEY",
        metavar="PEM_FILE",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Your request-signing private key (required).  [env: PAYLATER_PRIVATE_KEY]",
    ),
    click.option(
        "--api-key",
        envvar="PAYLATER_API_KEY",
        metavar="KEY",
        help="Your 32-byte API key (required).  [env: PAYLATER_API_KEY]",
    ),
    click.option(
        "--key-serial",
        envvar="PAYLATER_KEY_SERIAL",
        metavar="SERIAL",
        help="The serial of your key (default: derived from it).  [env: PAYLATER_KEY_SERIAL]",
    ),
)


def merchant_options(command: F) -> F:
    """Add the credential options to a click command."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def build_client(
    *,
    base_url: str | None,
    merchant_id: str | None,
    private_key_path: Path | None,
    api_key: str | None,
    key_serial: str | None,
) -> Any:
    """A ``PayLaterClient`` for these credentials, or a one-line error naming what is wrong."""
    from ..client import PayLaterClient
    from ..errors import PayLaterError
    from ..signing import load_private_key, serial_for

    missing = [
        flag
        for flag, value in (
            ("--issuer", base_url),
            ("--merchant-id", merchant_id),
            ("--private-key", private_key_path),
            ("--api-key", api_key),
        )
        if not value
    ]
    if missing or not (base_url and merchant_id and private_key_path and api_key):
        fail(f"give {', '.join(missing)} (or their PAYLATER_* environment variables)")
    try:
        pem = private_key_path.read_bytes()
    except OSError as exc:
        fail(f"--private-key: cannot read {private_key_path}: {exc.strerror or exc}")
    try:
        key = load_private_key(pem)
        return PayLaterClient(
            base_url,
            merchant_id=merchant_id,
            private_key=key,
            key_serial=key_serial or serial_for(key.public_key()),
            api_key=api_key,
        )
    except PayLaterError as exc:
        fail(str(exc.message))
