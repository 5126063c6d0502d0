"""Subprocesses of the suite: issuers (``paylater issuer serve``) and the example shop.

Every server listens on 127.0.0.1 only, on a port it picks itself (``--port 0``; the
issuer prints the effective one, which scripts are told to read), writes its stdout and
stderr to files that the "no secret in any log" check reads afterwards, and is stopped
with SIGTERM, then SIGKILL. Every wait is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import requests

__all__ = ["LOGS", "Server", "free_port", "issuer_command", "wait_until"]

REPO = Path(__file__).resolve().parents[2]
#: Every log file written by a server of this test session (read by the secrets check).
LOGS: list[Path] = []
_SERVING = re.compile(r"Serving on http://127\.0\.0\.1:(\d+)")


def free_port() -> int:
    """A port free right now on 127.0.0.1 (for servers that cannot be told ``--port 0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    what: str, check: Callable[[], object], timeout: float, interval: float = 0.1
) -> None:
    """Poll ``check()`` until it is truthy; fail the test with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def issuer_command(*args: str) -> list[str]:
    """``paylater issuer <args>`` run by this interpreter (the venv's paylater_sdk)."""
    return [sys.executable, "-c", "from paylater_sdk.cli import main; main()", "issuer", *args]


class Server:
    """One server subprocess; ``start`` may be called again after a stop or a kill."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        logdir: Path,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        ready_path: str = "/v1/openapi.json",
    ) -> None:
        self.name = name
        self.command = list(command)
        self.logdir = logdir
        self.env = dict(env or {})
        self.port = port  # None: read it from the "Serving on" line
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.stderr_path = logdir / f"{name}.0.err"

    @property
    def url(self) -> str:
        assert self.port is not None, f"{self.name} is not started"
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Launch the process (not waiting for it: see :meth:`wait_ready`)."""
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        self.runs += 1
        out = self.logdir / f"{self.name}.{self.runs}.out"
        self.stderr_path = self.logdir / f"{self.name}.{self.runs}.err"
        LOGS.extend([out, self.stderr_path])
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        with out.open("wb") as stdout, self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                self.command, stdout=stdout, stderr=stderr, env=env, cwd=REPO
            )
        if "--port" in self.command and self.command[self.command.index("--port") + 1] == "0":
            self.port = None

    def log_text(self) -> str:
        try:
            return self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                + self.log_text()[-3000:]
            )
        if self.port is None:
            found = _SERVING.search(self.log_text())
            if found is None:
                return False
            self.port = int(found.group(1))
        try:
            answer = requests.get(self.url + self.ready_path, timeout=2, allow_redirects=False)
        except requests.RequestException:
            return False
        return answer.status_code < 500

    def wait_ready(self, timeout: float = 60) -> None:
        wait_until(f"{self.name} to serve", self._ready, timeout)

    def stop(self, grace: float = 10) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill9(self) -> None:
        """``kill -9``: no handler runs, no transaction finishes."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
