"""``paylater issuer``: serve (in-process and as a real process), check-ledger,
add-merchant and rotate-key against a real SQLite file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner

from paylater_sdk.cli import main
from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.issuer.storage.schema import buyers
from paylater_sdk.money import Money
from paylater_sdk.signing import generate_private_key, public_key_pem


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A database that exists already (created by the issuer itself, as `serve` would)."""
    url = f"sqlite:///{tmp_path / 'issuer.db'}"
    create_app({"DATABASE_URL": url, "TEST_MODE": True})
    return url


@pytest.fixture
def public_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "merchant_public.pem"
    path.write_bytes(public_key_pem(generate_private_key("ed25519")))
    return path


def _issuer(db_url: str) -> Any:
    return get_issuer(create_app({"DATABASE_URL": db_url, "SECRET_KEY": "k" * 32}))


def test_issuer_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(main, ["issuer", "--help"])
    assert result.exit_code == 0
    for command in ("serve", "check-ledger", "add-merchant", "rotate-key"):
        assert command in result.output


# --- serve -----------------------------------------------------------------------------


class FakeServer:
    instances: list[FakeServer] = []  # noqa: RUF012

    def __init__(self, app: Any, **kw: Any) -> None:
        self.app, self.kw = app, kw
        self.effective_host, self.effective_port = kw["host"], 54321
        self.ran = self.closed = False
        FakeServer.instances.append(self)

    def run(self) -> None:
        self.ran = True

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> type[FakeServer]:
    import waitress

    FakeServer.instances = []
    monkeypatch.setattr(waitress, "create_server", FakeServer)
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    return FakeServer


def test_serve_builds_the_app_from_the_options(
    runner: CliRunner, fake_server: type[FakeServer], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    result = runner.invoke(
        main,
        [
            "issuer", "serve", "--database", url, "--test-mode", "--port", "0",
            "--notify-schedule", "1,2,3", "--threads", "4", "--no-worker",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [server] = fake_server.instances
    assert server.ran
    assert server.closed
    assert server.kw == {"host": "127.0.0.1", "port": 0, "threads": 4, "ident": "paylater-issuer"}
    issuer = get_issuer(server.app)
    assert issuer.config.test_mode is True
    assert tuple(issuer.config.notify_schedule) == (1, 2, 3)
    assert issuer.config.notify_worker is False
    assert "Serving on http://127.0.0.1:54321" in result.output
    assert "TEST MODE" in result.output
    assert f"database {url}" in result.output


def test_serve_takes_the_nonce_store(
    runner: CliRunner, fake_server: type[FakeServer], tmp_path: Path
) -> None:
    from paylater_sdk.signing import RedisNonceStore

    url = f"sqlite:///{tmp_path / 'nonces.db'}"
    args = ["issuer", "serve", "--database", url, "--test-mode", "--no-worker"]
    result = runner.invoke(main, [*args, "--nonce-store", "redis://127.0.0.1:6379/7"])
    assert result.exit_code == 0, result.output
    issuer = get_issuer(fake_server.instances[-1].app)
    assert isinstance(issuer.nonce_store, RedisNonceStore)
    from_env = runner.invoke(main, args, env={"PAYLATER_NONCE_STORE": "database"})
    assert from_env.exit_code == 0, from_env.output
    assert type(get_issuer(fake_server.instances[-1].app).nonce_store).__name__ == (
        "DatabaseNonceStore"
    )
    bad = runner.invoke(main, [*args, "--nonce-store", "memcached://x"])
    assert bad.exit_code == 2
    assert "Error: --nonce-store takes 'database' or a redis:// URL" in bad.output


def test_serve_never_prints_a_database_password(
    runner: CliRunner, fake_server: type[FakeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    import paylater_sdk.issuer

    real = paylater_sdk.issuer.create_app

    def fake_create_app(config: dict[str, Any]) -> Any:
        # Stand-in for a PostgreSQL URL: the app itself runs on a local file.
        assert config["DATABASE_URL"] == "postgresql://issuer:hunter2@db.internal/issuer"
        app = real({"TEST_MODE": True})
        get_issuer(app).engine.url = sa.engine.make_url(config["DATABASE_URL"])
        return app

    monkeypatch.setattr(paylater_sdk.issuer, "create_app", fake_create_app)
    result = runner.invoke(
        main,
        ["issuer", "serve", "--test-mode", "--no-worker",
         "--database", "postgresql://issuer:hunter2@db.internal/issuer"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert "postgresql://issuer:***@db.internal/issuer" in result.output


def test_serve_registers_merchants_from_a_file(
    runner: CliRunner, fake_server: type[FakeServer], tmp_path: Path, public_key_file: Path
) -> None:
    merchants = tmp_path / "merchants.json"
    merchants.write_text(
        json.dumps(
            [
                {
                    "id": "m1",
                    "name": "Shop",
                    "public_keys": [public_key_file.read_text()],
                    "api_key": "a" * 32,
                    "notify_prefixes": ["https://shop.example/"],
                    "return_prefixes": ["https://shop.example/"],
                }
            ]
        )
    )
    result = runner.invoke(
        main,
        ["issuer", "serve", "--database", f"sqlite:///{tmp_path / 's.db'}", "--test-mode",
         "--merchants", str(merchants), "--no-worker"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    issuer = get_issuer(fake_server.instances[0].app)
    assert issuer.merchant_api_key("m1") == b"a" * 32


def test_serve_reads_servicing_settings_from_a_file(
    runner: CliRunner, fake_server: type[FakeServer], tmp_path: Path
) -> None:
    settings = tmp_path / "servicing.json"
    settings.write_text(json.dumps({"fenfu-6": {"due_day": 10, "payoff_fees": "ALL"}}))
    result = runner.invoke(
        main,
        ["issuer", "serve", "--database", f"sqlite:///{tmp_path / 's.db'}", "--test-mode",
         "--servicing", str(settings), "--no-worker"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    issuer = get_issuer(fake_server.instances[0].app)
    assert issuer.config.servicing["fenfu-6"].payoff_fees.value == "ALL"
    assert {o.plan_id: o.terms.due_day for o in issuer.offers}["fenfu-6"] == 10


def test_serve_refuses_bad_servicing_settings_naming_the_flag(
    runner: CliRunner, fake_server: type[FakeServer], tmp_path: Path
) -> None:
    base = ["issuer", "serve", "--database", f"sqlite:///{tmp_path / 'x.db'}", "--test-mode"]
    for content, message in (
        ("[1]", "must hold a JSON object of plan id -> settings"),
        ("{", "cannot read servicing file"),
        ('{"fenfu-6": {"due_day": 40}}', "--servicing['fenfu-6'].due_day: due_day must be"),
    ):
        settings = tmp_path / "servicing.json"
        settings.write_text(content)
        result = runner.invoke(main, [*base, "--servicing", str(settings)])
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output
    assert fake_server.instances == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--notify-schedule", "1,x"], "comma-separated whole seconds"),
        (["--notify-schedule", ","], "at least one step"),
        (["--notify-schedule", "5,-1"], ">= 0"),
        (["--no-test-mode"], "--secret-key is required"),
        (["--port", "70000"], "70000"),
    ],
)
def test_serve_refuses_bad_options_with_one_clear_line(
    runner: CliRunner,
    fake_server: type[FakeServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("PAYLATER_SECRET_KEY", raising=False)
    monkeypatch.delenv("PAYLATER_TEST_MODE", raising=False)
    base = ["issuer", "serve", "--database", f"sqlite:///{tmp_path / 'x.db'}"]
    if "--no-test-mode" not in args:
        base.append("--test-mode")
    result = runner.invoke(main, [*base, *args])
    assert result.exit_code == 2
    assert message in result.output
    assert fake_server.instances == []
    assert "Traceback" not in result.output


def test_serve_runs_a_real_server_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PAYLATER_SECRET_KEY", None)
    code = "from paylater_sdk.cli import main; main()"
    args = ["issuer", "serve", "--test-mode", "--port", "0",
            "--database", f"sqlite:///{tmp_path / 'real.db'}"]  # fmt: skip
    with subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stderr is not None
            port = None
            for _ in range(20):
                line = proc.stderr.readline()
                match = re.search(r"Serving on http://127\.0\.0\.1:(\d+)", line)
                if match:
                    port = int(match.group(1))
                    break
            assert port, "the server never said where it listens"
            base = f"http://127.0.0.1:{port}"
            limit = {"value": 100000, "currency": "CNY"}
            response = requests.post(f"{base}/_test/buyers", json={"limit": limit}, timeout=10)
            assert response.status_code == 201
            assert response.json()["id"].startswith("byr_")
            assert requests.get(f"{base}/authorize/co_missing", timeout=10).status_code == 404
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
            assert "paylater issuer stopped" in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# --- check-ledger ----------------------------------------------------------------------


def test_check_ledger_passes_on_a_consistent_ledger(runner: CliRunner, db_url: str) -> None:
    _issuer(db_url).create_buyer(limit=Money.from_minor(50_000_00, "CNY"))
    result = runner.invoke(main, ["issuer", "check-ledger", "--database", db_url])
    assert result.exit_code == 0, result.output
    assert "ledger OK" in result.output


def test_check_ledger_exits_1_on_a_violation(runner: CliRunner, db_url: str) -> None:
    buyer = _issuer(db_url).create_buyer(limit=Money.from_minor(50_000_00, "CNY"))
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:  # a bug (or a hand edit) makes credit appear from nowhere
        conn.execute(buyers.update().where(buyers.c.id == buyer.id).values(available=60_000_00))
    engine.dispose()
    result = runner.invoke(main, ["issuer", "check-ledger", "--database", db_url])
    assert result.exit_code == 1
    assert buyer.id in result.output
    assert "violation" in result.output


def test_check_ledger_reads_the_database_from_the_environment(
    runner: CliRunner, db_url: str
) -> None:
    result = runner.invoke(main, ["issuer", "check-ledger"], env={"PAYLATER_DATABASE_URL": db_url})
    assert result.exit_code == 0
    assert "ledger OK" in result.output


def test_check_ledger_refuses_a_missing_database(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = runner.invoke(main, ["issuer", "check-ledger", "--database", f"sqlite:///{missing}"])
    assert result.exit_code == 2
    assert "no issuer database" in result.output
    assert not missing.exists()  # and it did not create an empty one


# --- add-merchant ----------------------------------------------------------------------


def test_add_merchant_generates_and_prints_the_api_key_once(
    runner: CliRunner, db_url: str, public_key_file: Path
) -> None:
    result = runner.invoke(
        main,
        ["issuer", "add-merchant", "--database", db_url, "--id", "m9", "--name", "九号店",
         "--public-key", str(public_key_file), "--notify-prefix", "https://shop.example/n/",
         "--return-prefix", "https://shop.example/"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    match = re.search(r"api_key: ([A-Za-z0-9]{32})\n", result.output)
    assert match
    assert _issuer(db_url).merchant_api_key("m9") == match.group(1).encode()


def test_add_merchant_takes_the_api_key_from_the_environment(
    runner: CliRunner, db_url: str, public_key_file: Path
) -> None:
    key = "K" * 32
    args = ["issuer", "add-merchant", "--database", db_url, "--id", "m9", "--name", "Nine",
            "--public-key", str(public_key_file)]  # fmt: skip
    result = runner.invoke(main, args, env={"PAYLATER_MERCHANT_API_KEY": key})
    assert result.exit_code == 0, result.output
    assert key not in result.output  # a key the operator gave is never echoed
    # Running it again updates instead of failing (idempotent).
    again = runner.invoke(main, args, env={"PAYLATER_MERCHANT_API_KEY": key})
    assert again.exit_code == 0, again.output
    assert _issuer(db_url).merchant_api_key("m9") == key.encode()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--api-key", "short"], "32 bytes"),
        (["--notify-prefix", "ftp://shop.example/"], "--notify-prefix must be an http(s)"),
        (["--return-prefix", "shop.example"], "--return-prefix must be an http(s)"),
    ],
)
def test_add_merchant_refuses_bad_input(
    runner: CliRunner, db_url: str, public_key_file: Path, extra: list[str], message: str
) -> None:
    result = runner.invoke(
        main,
        ["issuer", "add-merchant", "--database", db_url, "--id", "m9", "--name", "Nine",
         "--public-key", str(public_key_file), *extra],
    )  # fmt: skip
    assert result.exit_code == 2
    assert message in result.output
    assert "short" not in result.output or "--api-key" in result.output


def test_add_merchant_refuses_a_file_that_is_not_a_public_key(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a key")
    result = runner.invoke(
        main,
        ["issuer", "add-merchant", "--database", db_url, "--id", "m9", "--name", "Nine",
         "--public-key", str(bogus), "--api-key", "a" * 32],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Error:" in result.output
    assert "Traceback" not in result.output


# --- rotate-key ------------------------------------------------------------------------


def test_rotate_key_prints_the_new_serial_and_keeps_the_old_one(
    runner: CliRunner, db_url: str
) -> None:
    old = _issuer(db_url).response_signer().serial
    result = runner.invoke(main, ["issuer", "rotate-key", "--database", db_url, "--alg", "rsa"])
    assert result.exit_code == 0, result.output
    new = result.output.strip()
    assert re.fullmatch(r"[0-9A-F]{40}", new)
    assert new != old
    issuer = _issuer(db_url)
    assert issuer.response_signer().serial == new
    assert {old, new} <= set(issuer.signing_keyring().serials())


def test_rotate_key_refuses_an_unknown_algorithm(runner: CliRunner, db_url: str) -> None:
    result = runner.invoke(main, ["issuer", "rotate-key", "--database", db_url, "--alg", "dsa"])
    assert result.exit_code == 2
    assert "dsa" in result.output
