"""``paylater trigger`` and ``paylater listen`` against a real issuer over HTTP (waitress on
127.0.0.1): trigger makes the issuer send the event, listen forwards it freshly sealed to a
local handler that verifies it like any notification."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import waitress
from click.testing import CliRunner
from waitress import wasyncore

from paylater_sdk.cli import main
from paylater_sdk.client import EventType, PayLaterClient
from paylater_sdk.issuer import create_app, get_issuer
from paylater_sdk.signing import generate_private_key, private_key_pem, public_key_pem
from tests._support.issuer import database_url

API_KEY = "0123456789abcdef0123456789abcdef"
MERCHANT = "m_cli"
LISTEN = [sys.executable, "-c", "from paylater_sdk.cli import main; main()", "listen"]


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/notify", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A test-mode issuer on a real socket; the environment the CLI commands read."""
    key = generate_private_key("ed25519")
    key_path = tmp_path / "merchant.pem"
    key_path.write_bytes(private_key_pem(key))
    app = create_app(
        {
            "TEST_MODE": True,
            "DATABASE_URL": database_url(tmp_path),
            "NOTIFY_WORKER": False,  # only `paylater listen` delivers here
            "MERCHANTS": [
                {
                    "id": MERCHANT,
                    "name": "CLI shop",
                    "public_keys": [public_key_pem(key).decode()],
                    "api_key": API_KEY,
                    "notify_prefixes": ["http://127.0.0.1:9/"],
                    "return_prefixes": ["http://127.0.0.1:9/"],
                }
            ],
        }
    )
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)

    def run() -> None:
        with contextlib.suppress(OSError, ValueError):
            server.run()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield {
            "PAYLATER_BASE_URL": f"http://127.0.0.1:{server.effective_port}",
            "PAYLATER_MERCHANT_ID": MERCHANT,
            "PAYLATER_PRIVATE_KEY": str(key_path),
            "PAYLATER_API_KEY": API_KEY,
            "PAYLATER_NOTIFY_URL": "http://127.0.0.1:9/notify",
        }
    finally:
        server.task_dispatcher.shutdown(timeout=5)
        with contextlib.suppress(OSError):
            wasyncore.close_all(server._map)
        get_issuer(app).engine.dispose()


def _client(env: dict[str, str]) -> PayLaterClient:
    from paylater_sdk.signing import load_private_key, serial_for

    key = load_private_key(Path(env["PAYLATER_PRIVATE_KEY"]).read_bytes())
    return PayLaterClient(
        env["PAYLATER_BASE_URL"],
        merchant_id=MERCHANT,
        private_key=key,
        key_serial=serial_for(key),
        api_key=API_KEY,
    )


@pytest.mark.parametrize("kind", [t for t in EventType if t is not EventType.UNKNOWN])
def test_trigger_fires_each_event_type(served: dict[str, str], kind: EventType) -> None:
    result = CliRunner().invoke(main, ["trigger", kind.value], env=served)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{kind.value} fired: event evt_")
    event_id = result.output.split("event ")[1].split()[0]
    with _client(served) as client:
        event = client.events.get(event_id)
    assert event.event_type is kind


def test_trigger_refuses_a_missing_credential_in_one_line(served: dict[str, str]) -> None:
    env = {**served, "PAYLATER_API_KEY": ""}
    result = CliRunner().invoke(main, ["trigger", "CHECKOUT.AUTHORIZED"], env=env)
    assert result.exit_code == 2
    assert "--api-key" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_listen_forwards_new_events_freshly_sealed(
    served: dict[str, str], receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    before = CliRunner().invoke(main, ["trigger", "CHECKOUT.CLOSED"], env=served)
    assert before.exit_code == 0, before.output  # happened before listen: not replayed
    env = {**os.environ, **served}
    cmd = [*LISTEN, "--forward-to", url, "--interval", "0.1", "--max-events", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith(f"Ready: forwarding new events of {MERCHANT} to {url}"), (
            ready + proc.stderr.read()  # type: ignore[union-attr]
        )
        fired = CliRunner().invoke(main, ["trigger", "ORDER.CAPTURED"], env=served)
        assert fired.exit_code == 0, fired.output
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    lines = out.strip().splitlines()
    kinds = [line.split()[1] for line in lines]
    assert kinds == ["CHECKOUT.AUTHORIZED", "ORDER.CAPTURED"]  # oldest first
    assert all(line.endswith("-> 200") for line in lines)
    assert len(received) == 2
    with _client(served) as client:
        parsed = [client.notifications.parse(headers, body) for headers, body in received]
        listed = {e.id: e.event_type for e in client.events.list(limit=100)}
    assert [p.id for p in parsed] == [line.split()[2] for line in lines]
    assert [listed[p.id] for p in parsed] == [EventType(k) for k in kinds]
    assert EventType.CHECKOUT_CLOSED not in {p.event_type for p in parsed}


def test_listen_reports_a_failed_forward_and_carries_on(served: dict[str, str]) -> None:
    env = {**os.environ, **served}
    cmd = [*LISTEN, "--forward-to", "http://127.0.0.1:9/notify", "--interval", "0.1",
           "--max-events", "1", "--timeout", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Ready: ")
        fired = CliRunner().invoke(main, ["trigger", "CHECKOUT.CLOSED"], env=served)
        assert fired.exit_code == 0, fired.output
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    [line] = out.strip().splitlines()
    assert " CHECKOUT.CLOSED  evt_" in line
    assert line.endswith("-> failed: ConnectionError")
