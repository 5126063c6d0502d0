"""The mock issuer's fixtures (defined with their helpers in tests/_support/issuer.py)."""

from tests._support.issuer import (  # noqa: F401 - pytest finds fixtures by name here
    api,
    app,
    buyer,
    issuer,
    merchant_key,
    other_api,
    other_key,
)
