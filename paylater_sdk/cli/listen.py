"""``paylater listen``: forward an issuer's events to a notify handler on your machine.

For an issuer that cannot reach the developer's machine: the command polls
``GET /v1/events`` for events newer than the newest one it has seen, asks the issuer to
seal each one afresh (``GET /v1/events/{id}/notification``: a new signature timestamp and
nonce, the same envelope id) and POSTs it to ``--forward-to`` exactly as the issuer would,
so the handler verifies and deduplicates it like a real notification. One line is printed
per delivery. Events that happened before it started are not replayed (``paylater listen``
is for what happens next; resend an older one with ``client.events.resend(id)``).

A delivery that fails (the handler is down, or answers non-2xx) is reported and not
retried: the issuer's own delivery to the real notify URL is unaffected.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ._common import FAILED, fail
from ._merchant import build_client, merchant_options

__all__ = ["listen"]


def _forward(client: Any, event: Any, url: str, timeout: float) -> str:
    """Deliver one event, freshly sealed by the issuer; the outcome in words."""
    import requests

    sealed = client.events.notification(event.id)
    try:
        response = requests.post(
            url, data=sealed.body, headers=dict(sealed.headers), timeout=timeout,
            allow_redirects=False,
        )  # fmt: skip
    except requests.RequestException as exc:
        return f"failed: {type(exc).__name__}"
    return f"{response.status_code}"


def _newest(client: Any) -> str | None:
    page = client.events.list(limit=1)
    return page.data[0].id if page.data else None


def _new_events(client: Any, after: str | None) -> Any:
    """Every event newer than ``after``, oldest first, fetched page by page."""
    if after is None:
        return reversed(list(client.events.list(limit=100).auto_paging_iter()))
    return client.events.list(limit=100, ending_before=after).auto_paging_iter()


@click.command("listen")
@merchant_options
@click.option(
    "--forward-to",
    required=True,
    metavar="URL",
    help="Your local notify handler, e.g. http://127.0.0.1:5000/notify.",
)
@click.option(
    "--interval",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0.05, 3600),
    help="Seconds between two polls.",
)
@click.option(
    "--max-events",
    type=click.IntRange(1),
    default=None,
    help="Stop after this many deliveries (default: run until Ctrl-C).",
)
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1, 300),
    help="Seconds the handler gets to answer.",
)
def listen(
    base_url: str | None,
    merchant_id: str | None,
    private_key_path: Path | None,
    api_key: str | None,
    key_serial: str | None,
    forward_to: str,
    interval: float,
    max_events: int | None,
    timeout: float,
) -> None:
    """Forward the issuer's new events to a local notify URL, one line each.

    Polls GET /v1/events and POSTs each new event, freshly sealed by the issuer, to
    --forward-to: your handler verifies it like any notification.
    """
    if not forward_to.startswith(("http://", "https://")):
        fail("--forward-to must be an http(s) URL, e.g. http://127.0.0.1:5000/notify")
    from ..errors import PayLaterError

    client = build_client(
        base_url=base_url,
        merchant_id=merchant_id,
        private_key_path=private_key_path,
        api_key=api_key,
        key_serial=key_serial,
    )
    delivered = 0
    try:
        newest = _newest(client)
        click.echo(f"Ready: forwarding new events of {merchant_id} to {forward_to} (Ctrl-C stops)")
        while max_events is None or delivered < max_events:
            for event in _new_events(client, newest):
                outcome = _forward(client, event, forward_to, timeout)
                newest = event.id
                delivered += 1
                stamp = datetime.now().astimezone().strftime("%H:%M:%S")
                click.echo(f"{stamp}  {event.event_type}  {event.id}  -> {outcome}")
                if max_events is not None and delivered >= max_events:
                    return
            time.sleep(interval)
    except PayLaterError as exc:
        fail(f"the issuer refused or failed: {exc.message}", FAILED)
    except KeyboardInterrupt:
        click.echo(f"stopped after {delivered} deliveries")
    finally:
        client.close()
