"""``paylater keys``: make and inspect signing keys.

``generate`` writes ``private_key.pem`` (mode 0600, created exclusively so no other process
can open it in between), ``public_key.pem`` (give it to the other side) and ``serial``
(the name of the key on the wire).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import PayLaterError
from ..signing import (
    generate_private_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    serial_for,
)
from ._common import FAILED, OneLineGroup, fail, os_error_text, passphrase_from_env

__all__ = ["keys"]

PRIVATE_NAME = "private_key.pem"
PUBLIC_NAME = "public_key.pem"
SERIAL_NAME = "serial"


@click.group(cls=OneLineGroup)
def keys() -> None:
    """Generate and inspect signing keys."""


def _write(path: Path, data: bytes, mode: int, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        fail(f"{path} exists; pass --force to overwrite it", FAILED)
    except OSError as exc:
        fail(f"--out {path.parent}: cannot write {path.name}: {os_error_text(exc)}", FAILED)
    try:
        os.fchmod(fd, mode)  # also when --force reused an existing, looser file
        os.write(fd, data)
    finally:
        os.close(fd)


@keys.command()
@click.option(
    "--alg",
    type=click.Choice(["ed25519", "rsa"], case_sensitive=False),
    default="ed25519",
    show_default=True,
    help="ed25519 (fast) or rsa (2048 bits, WeChat Pay compatible).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for private_key.pem, public_key.pem and serial (created if needed).",
)
@click.option(
    "--passphrase-env",
    metavar="VAR",
    default=None,
    help="Encrypt the private key with the passphrase in this environment variable.",
)
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
def generate(alg: str, out_dir: Path, passphrase_env: str | None, force: bool) -> None:
    """Generate a key pair; print its serial."""
    password = passphrase_from_env("--passphrase-env", passphrase_env)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        # /proc/nope, a path under a regular file, a read-only or full disk.
        fail(f"--out {out_dir}: cannot create the folder: {os_error_text(exc)}", FAILED)
    key = generate_private_key(alg)
    serial = serial_for(key)
    _write(out_dir / PRIVATE_NAME, private_key_pem(key, password), 0o600, force)
    _write(out_dir / PUBLIC_NAME, public_key_pem(key), 0o644, force)
    _write(out_dir / SERIAL_NAME, f"{serial}\n".encode("ascii"), 0o644, force)
    click.echo(serial)
    click.echo(
        f"wrote {out_dir / PRIVATE_NAME} (0600, keep secret), {out_dir / PUBLIC_NAME}, "
        f"{out_dir / SERIAL_NAME}",
        err=True,
    )


@keys.command()
@click.argument("pem_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--passphrase-env", metavar="VAR", default=None, help="Passphrase variable.")
def serial(pem_file: Path, passphrase_env: str | None) -> None:
    """Print the serial of a public or private key PEM file."""
    try:
        data = pem_file.read_bytes()
    except OSError as exc:
        fail(f"PEM_FILE {pem_file}: {os_error_text(exc)}", FAILED)
    if b"PRIVATE KEY" not in data:
        try:
            click.echo(serial_for(load_public_key(data)))
        except PayLaterError as exc:
            fail(f"PEM_FILE {pem_file}: {exc}", FAILED)
        return
    password = passphrase_from_env("--passphrase-env", passphrase_env)
    if password is None and b"ENCRYPTED" in data:
        fail(
            f"PEM_FILE {pem_file} is encrypted: pass --passphrase-env VAR, VAR being the "
            "environment variable that holds its passphrase"
        )
    try:
        key = load_private_key(data, password)
    except PayLaterError:
        hint = f"the passphrase in {passphrase_env} is wrong, or " if password else ""
        fail(f"PEM_FILE {pem_file}: {hint}the file is not a PEM private key", FAILED)
    click.echo(serial_for(key))
