"""Every ``paylater`` command and subcommand: ``--help``, no arguments, and a table of bad
inputs. A user's mistake gets one ``Error: ...`` line on stderr naming what to change (exit
2 for usage, 1 for a failed operation), never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from paylater_sdk.cli import main
from paylater_sdk.issuer import create_app
from paylater_sdk.signing import generate_private_key, private_key_pem, public_key_pem


def _walk(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            found += _walk(sub, (*path, name))
    return found


COMMANDS = _walk(main)


def test_the_walk_finds_every_command() -> None:
    assert set(COMMANDS) >= {
        (),
        ("plan",),
        ("demo",),
        ("keys",),
        ("keys", "generate"),
        ("keys", "serial"),
        ("issuer",),
        ("issuer", "serve"),
        ("issuer", "check-ledger"),
        ("issuer", "add-merchant"),
        ("issuer", "rotate-key"),
        ("issuer", "migrate"),
    }


def _run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env, prog_name="paylater")


def assert_one_line_error(result: Result, code: int, *needles: str) -> str:
    """Exit ``code``, no exception escaped (CliRunner would hide its traceback), and
    stderr is exactly one ``Error:`` line holding every needle."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "paylater")
def test_help_works_everywhere(path: tuple[str, ...]) -> None:
    result = _run([*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert result.stdout.startswith(f"Usage: {' '.join(('paylater', *path))}")


def _has_cjk(text: str) -> bool:
    return any(unicodedata.east_asian_width(ch) in "WF" for ch in text)


@pytest.mark.parametrize("path", [(), ("issuer",), ("keys",)], ids=lambda p: " ".join(p) or "-")
def test_command_lists_have_one_whole_line_per_command(path: tuple[str, ...]) -> None:
    out = _run([*path, "--help"]).stdout
    listing = out.split("Commands:\n", 1)[1].splitlines()
    expected = {p[-1] for p in COMMANDS if len(p) == len(path) + 1 and p[:-1] == path}
    names = []
    for line in listing:
        match = re.fullmatch(r"  (\S+) +(\S.*)", line)
        assert match, f"not one line per command: {line!r}"
        names.append(match.group(1))
        text = match.group(2)
        assert len(line) <= 80, line
        assert not text.endswith("..."), line  # click's cut mid-word
        assert text.endswith((".", ")")), line  # a whole sentence
        assert not (_has_cjk(text) and re.search(r"[A-Za-z]{3}", text)), line  # one language
    assert set(names) == expected


def test_the_root_without_a_command_prints_its_help() -> None:
    result = _run([])
    assert result.exit_code == 0
    assert "Commands:" in result.stdout


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        (("keys",), "generate, serial"),
        (
            ("issuer",),
            "add-merchant, check-ledger, export-buyer, migrate, purge, rotate-key, serve",
        ),
        (("keys", "generate"), "--out"),
        (("keys", "serial"), "PEM_FILE"),
        (("plan",), "AMOUNT"),
        (("issuer", "serve"), "--secret-key"),
        (("issuer", "check-ledger"), "--database"),
        (("issuer", "add-merchant"), "--id"),
        (("issuer", "rotate-key"), "--database"),
        (("issuer", "migrate"), "--database"),
        (("issuer", "export-buyer"), "BUYER_ID"),
        (("issuer", "purge"), "--closed-before"),
        (("listen",), "--forward-to"),
        (("trigger",), "EVENT"),
        (("bill",), "DATE"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_no_arguments_is_one_line(path: tuple[str, ...], needle: str) -> None:
    assert_one_line_error(_run(list(path), env={"PAYLATER_DATABASE_URL": ""}), 2, needle)


def test_no_arguments_covers_every_command() -> None:
    # `paylater` prints its help; `paylater demo` alone starts the demo (not a mistake).
    covered = {("keys",), ("issuer",), ("keys", "generate"), ("keys", "serial"), ("plan",)}
    covered |= {("listen",), ("trigger",), ("bill",)}
    covered |= {
        ("issuer", c)
        for c in (
            "serve",
            "check-ledger",
            "add-merchant",
            "rotate-key",
            "migrate",
            "export-buyer",
            "purge",
        )
    }
    assert set(COMMANDS) - covered == {(), ("demo",)}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("cli")
    key = generate_private_key("ed25519")
    (folder / "public.pem").write_bytes(public_key_pem(key))
    (folder / "encrypted.pem").write_bytes(private_key_pem(key, b"s3cret"))
    (folder / "junk.pem").write_text("not a key")
    (folder / "private.pem").write_bytes(private_key_pem(key))
    (folder / "afile").write_text("a regular file")
    db = f"sqlite:///{folder / 'issuer.db'}"
    create_app({"DATABASE_URL": db, "TEST_MODE": True})
    return {
        "dir": str(folder),
        "public": str(folder / "public.pem"),
        "encrypted": str(folder / "encrypted.pem"),
        "junk": str(folder / "junk.pem"),
        "private": str(folder / "private.pem"),
        "afile": str(folder / "afile"),
        "db": db,
    }


UNREACHABLE_PG = "postgresql+psycopg://paylater:hunter2pw@127.0.0.1:1/paylater"

# (arguments, exit status, words the one line must hold); {name} is filled from `files`.
BAD_INPUTS: list[tuple[list[str], int, tuple[str, ...]]] = [
    (["--bogus"], 2, ("--bogus",)),
    (["nope"], 2, ("nope",)),
    (["keys", "nope"], 2, ("nope",)),
    (["keys", "generate", "--out", "/proc/nope"], 1, ("--out", "/proc/nope")),
    (["keys", "generate", "--out", "{afile}/sub"], 1, ("--out", "Not a directory")),
    (["keys", "generate", "--out", "{dir}/k", "--alg", "dsa"], 2, ("--alg", "dsa")),
    (["keys", "generate", "--out", "{dir}/k2", "--passphrase-env", "UNSET_VAR"], 2,
     ("--passphrase-env", "UNSET_VAR")),
    (["keys", "serial", "{dir}/missing.pem"], 2, ("PEM_FILE",)),
    (["keys", "serial", "{junk}"], 1, ("PEM_FILE", "public key")),
    (["keys", "serial", "{encrypted}"], 2, ("--passphrase-env",)),
    (["keys", "serial", "{encrypted}", "--passphrase-env", "WRONG_PW"], 1,
     ("WRONG_PW", "wrong")),
    (["plan", "abc", "--periods", "3"], 2, ()),
    (["plan", "100"], 2, ("--periods",)),
    (["plan", "-100", "--periods", "3"], 2, ("AMOUNT", "positive")),
    (["plan", "100", "--periods", "3", "--annual-rate", "12"], 2, ("--annual-rate", "fractions")),
    (["plan", "100.001", "--periods", "3"], 2, ("at most 2 decimals for CNY",)),
    (["plan", "100", "--periods", "3", "--start", "yesterday"], 2, ("--start",)),
    (["issuer", "check-ledger", "--database", "nonsense"], 2, ("--database",)),
    (["issuer", "check-ledger", "--database", UNREACHABLE_PG], 1,
     ("--database", "127.0.0.1", "Connection refused")),
    (["issuer", "check-ledger", "--database", "mysql://u@127.0.0.1/x"], 2,
     ("--database", "driver")),
    (["issuer", "check-ledger", "--database", "sqlite:///{dir}/none.db"], 2,
     ("no issuer database",)),
    (["issuer", "rotate-key", "--database", "nonsense"], 2, ("--database",)),
    (["issuer", "migrate", "--database", "nonsense"], 2, ("--database",)),
    (["issuer", "migrate", "--database", UNREACHABLE_PG], 1, ("--database", "Connection refused")),
    (["issuer", "serve", "--test-mode", "--nonce-store", "memcached://x"], 2, ("--nonce-store",)),
    (["issuer", "rotate-key", "--database", "{db}", "--alg", "dsa"], 2, ("--alg",)),
    (["issuer", "serve"], 2, ("--secret-key", "--test-mode")),
    (["issuer", "serve", "--port", "99999"], 2, ("--port",)),
    (["issuer", "serve", "--test-mode", "--notify-schedule", "soon"], 2,
     ("--notify-schedule",)),
    (["issuer", "serve", "--test-mode", "--database", "nonsense"], 2, ("--database",)),
    (["issuer", "add-merchant", "--database", "{db}", "--id", "a b", "--name", "A",
      "--public-key", "{public}"], 2, ("--id",)),
    (["issuer", "add-merchant", "--database", "{db}", "--id", "m1", "--name", " ",
      "--public-key", "{public}"], 2, ("--name",)),
    (["issuer", "add-merchant", "--database", "{db}", "--id", "m1", "--name", "A\nB",
      "--public-key", "{public}"], 2, ("--name",)),
    (["issuer", "add-merchant", "--database", "{db}", "--id", "m1", "--name", "A",
      "--public-key", "{junk}", "--api-key", "a" * 32], 2, ()),
    (["issuer", "add-merchant", "--database", "{db}", "--id", "m1", "--name", "A",
      "--public-key", "{public}", "--api-key", "short"], 2, ("--api-key",)),
    (["demo", "--issuer-port", "99999"], 2, ("--issuer-port",)),
    (["listen", "--forward-to", "ftp://x"], 2, ("--forward-to",)),
    (["listen", "--forward-to", "http://127.0.0.1:1/n"], 2,
     ("--issuer", "--merchant-id", "--private-key", "--api-key")),
    (["listen", "--forward-to", "http://127.0.0.1:1/n", "--interval", "0"], 2, ("--interval",)),
    (["trigger", "NOPE.EVENT"], 2, ("NOPE.EVENT",)),
    (["trigger", "CHECKOUT.AUTHORIZED"], 2, ("--notify-url",)),
    (["trigger", "CHECKOUT.AUTHORIZED", "--notify-url", "http://127.0.0.1:1/n", "--issuer",
      "http://127.0.0.1:1", "--merchant-id", "m1", "--private-key", "{junk}",
      "--api-key", "a" * 32], 2, ()),
    (["trigger", "CHECKOUT.AUTHORIZED", "--notify-url", "http://127.0.0.1:1/n", "--issuer",
      "http://127.0.0.1:1", "--merchant-id", "m1", "--private-key", "{dir}/missing.pem",
      "--api-key", "a" * 32], 2, ("--private-key",)),
    (["trigger", "CHECKOUT.AUTHORIZED", "--notify-url", "http://127.0.0.1:1/n", "--issuer",
      "http://127.0.0.1:1", "--merchant-id", "m1", "--private-key", "{private}",
      "--api-key", "a" * 32], 1, ("could not reach",)),
    (["listen", "--forward-to", "http://127.0.0.1:1/n", "--issuer", "http://127.0.0.1:1",
      "--merchant-id", "m1", "--private-key", "{private}", "--api-key", "a" * 32], 1,
     ("could not reach",)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "code", "needles"), BAD_INPUTS, ids=[" ".join(a)[:60] for a, _, _ in BAD_INPUTS]
)
def test_bad_input_is_one_line(
    files: dict[str, str], args: list[str], code: int, needles: tuple[str, ...]
) -> None:
    filled = [arg.format(**files) for arg in args]
    env = {"PAYLATER_DATABASE_URL": "", "WRONG_PW": "not-it"}
    line = assert_one_line_error(_run(filled, env=env), code, *needles)
    assert "hunter2pw" not in line  # a database password is never printed
    assert "password=b" not in line  # flags, not Python names
    assert "SECRET_KEY" not in line


def test_a_real_process_prints_no_traceback_for_an_unreachable_database() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from paylater_sdk.cli import main; main()",
            "issuer",
            "check-ledger",
        ],
        env={"PAYLATER_DATABASE_URL": UNREACHABLE_PG, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("Error: --database postgresql+psycopg://paylater:***@")


def test_check_ledger_without_a_database_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import paylater_sdk

    checkout = Path(paylater_sdk.__file__).resolve().parent.parent
    before = set(checkout.rglob("*.db"))
    monkeypatch.chdir(tmp_path)
    result = _run(["issuer", "check-ledger"], env={"PAYLATER_DATABASE_URL": ""})
    assert_one_line_error(result, 2, "--database")
    assert set(checkout.rglob("*.db")) == before
    assert not (checkout / "instance").exists()
    assert list(tmp_path.iterdir()) == []
