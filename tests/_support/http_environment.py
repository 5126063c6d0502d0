"""HTTP and its environment in tests: a recording server, and proxy/netrc variables.

:func:`recording_server` records every request line and header it receives: a stand-in
proxy (a request sent through an HTTP proxy names the absolute URL in its request line,
``GET http://host/path``) or a receiver whose headers a test reads. The ``http_env``
fixture (tests/conftest.py) clears the machine's proxy, CA bundle and netrc variables.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass
class Recorded:
    """What the server saw: one ``(method, target, headers)`` per request."""

    url: str
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@contextlib.contextmanager
def recording_server(status: int = 200) -> Iterator[Recorded]:
    """Serve on 127.0.0.1 until the block ends, answering ``status`` with no body."""
    seen = Recorded(url="")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.requests.append((self.command, self.path, dict(self.headers.items())))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _record  # noqa: N815 (http.server's names)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def clear_http_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every proxy, CA bundle and netrc variable for the test."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC"):
        monkeypatch.delenv(name, raising=False)


def netrc_for(host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``.netrc`` that names ``host`` (requests reads the file ``NETRC`` names)."""
    path = tmp_path / "netrc"
    path.write_text(f"machine {host} login someone password hunter2\n")
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
