"""``python -m examples.merchant_flask``: serve the shop with waitress from ``SHOP_*`` variables.

For a quick look use ``paylater demo`` instead (it also starts a mock issuer and generates
every key); this entry point is the shape of a real deployment: configuration from the
environment, a production WSGI server, loopback unless told otherwise.
"""

from __future__ import annotations

import click

from paylater_sdk.errors import ConfigurationError

from .app import create_app

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Serve the example shop (configuration from SHOP_* environment variables)."""
    import waitress

    try:
        app = create_app()
    except ConfigurationError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"shop on http://{host}:{port}/ (admin at /admin/)")
    waitress.serve(app, host=host, port=port)


if __name__ == "__main__":
    serve()
