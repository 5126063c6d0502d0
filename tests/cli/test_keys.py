"""``paylater keys generate`` and ``paylater keys serial``."""

from __future__ import annotations

import stat

import pytest
from click.testing import CliRunner

from paylater_sdk.cli import main
from paylater_sdk.signing import (
    RSA_SHA256,
    algorithm_for_key,
    load_private_key,
    load_public_key,
    serial_for,
)


@pytest.fixture
def runner():
    return CliRunner()


@pytest.mark.parametrize(("alg", "kind"), [("ed25519", "ED25519"), ("rsa", "SHA256-RSA2048")])
def test_generate_writes_key_pair_and_serial(runner, tmp_path, alg, kind):
    out = tmp_path / "keys"
    result = runner.invoke(main, ["keys", "generate", "--alg", alg, "--out", str(out)])
    assert result.exit_code == 0, result.output
    private = out / "private_key.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key = load_private_key(private.read_bytes())
    assert algorithm_for_key(key).name == kind
    public = load_public_key((out / "public_key.pem").read_bytes())
    serial = (out / "serial").read_text().strip()
    assert serial == serial_for(key) == serial_for(public)
    assert result.stdout.splitlines()[0] == serial
    assert "BEGIN" not in result.output  # the private key is never printed


def test_default_is_ed25519(runner, tmp_path):
    result = runner.invoke(main, ["keys", "generate", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (
        algorithm_for_key(load_private_key((tmp_path / "private_key.pem").read_bytes())).name
        == "ED25519"
    )


def test_passphrase_from_environment(runner, tmp_path):
    result = runner.invoke(
        main,
        ["keys", "generate", "--alg", "rsa", "--out", str(tmp_path), "--passphrase-env", "KEY_PW"],
        env={"KEY_PW": "s3cret pass"},
    )
    assert result.exit_code == 0, result.output
    pem = (tmp_path / "private_key.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem
    key = load_private_key(pem, b"s3cret pass")
    assert algorithm_for_key(key) is RSA_SHA256
    assert "s3cret" not in result.output
    serial = runner.invoke(
        main,
        ["keys", "serial", str(tmp_path / "private_key.pem"), "--passphrase-env", "KEY_PW"],
        env={"KEY_PW": "s3cret pass"},
    )
    assert serial.exit_code == 0, serial.output
    assert serial.stdout.strip() == serial_for(key)


def test_empty_passphrase_variable_is_refused(runner, tmp_path):
    result = runner.invoke(
        main,
        ["keys", "generate", "--out", str(tmp_path), "--passphrase-env", "NOPE"],
        env={"NOPE": ""},
    )
    assert result.exit_code != 0
    assert "NOPE is empty or unset" in result.output
    assert not (tmp_path / "private_key.pem").exists()


def test_refuses_to_overwrite_without_force(runner, tmp_path):
    assert runner.invoke(main, ["keys", "generate", "--out", str(tmp_path)]).exit_code == 0
    first = (tmp_path / "private_key.pem").read_bytes()
    again = runner.invoke(main, ["keys", "generate", "--out", str(tmp_path)])
    assert again.exit_code != 0
    assert "exists; pass --force" in again.output
    assert (tmp_path / "private_key.pem").read_bytes() == first
    forced = runner.invoke(main, ["keys", "generate", "--out", str(tmp_path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "private_key.pem").read_bytes() != first


def test_force_tightens_a_loose_existing_file(runner, tmp_path):
    loose = tmp_path / "private_key.pem"
    loose.write_text("old")
    loose.chmod(0o644)
    assert (
        runner.invoke(main, ["keys", "generate", "--out", str(tmp_path), "--force"]).exit_code == 0
    )
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600


def test_bad_algorithm(runner, tmp_path):
    result = runner.invoke(main, ["keys", "generate", "--alg", "dsa", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "'dsa' is not one of" in result.output


def test_serial_of_public_key_and_garbage(runner, tmp_path):
    runner.invoke(main, ["keys", "generate", "--out", str(tmp_path)])
    expected = (tmp_path / "serial").read_text().strip()
    for name in ("public_key.pem", "private_key.pem"):
        result = runner.invoke(main, ["keys", "serial", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == expected
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    result = runner.invoke(main, ["keys", "serial", str(junk)])
    assert result.exit_code == 1
    assert "could not load the public key" in result.output


def test_keys_group_is_listed(runner):
    result = runner.invoke(main, ["keys", "--help"])
    assert result.exit_code == 0
    assert "generate" in result.output
    assert "serial" in result.output
