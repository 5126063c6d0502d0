"""Serve a shop app over real HTTP on loopback (waitress in a thread) for concurrency tests."""

from __future__ import annotations

import contextlib
import threading
from typing import Any


class ShopServer:
    """waitress on 127.0.0.1, any free port; ``stop()`` waits for running requests."""

    def __init__(self, app: Any, *, threads: int = 8) -> None:
        import waitress

        self.server: Any = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
        self.url = f"http://127.0.0.1:{int(self.server.effective_port)}"
        self._thread = threading.Thread(target=self._run, name="shop-under-test", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # a socket closed by stop()
            self.server.run()

    def stop(self) -> None:
        from waitress import wasyncore

        self.server.task_dispatcher.shutdown(timeout=5)
        with contextlib.suppress(OSError):
            wasyncore.close_all(self.server._map)
        self._thread.join(timeout=5)

    def __enter__(self) -> ShopServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
