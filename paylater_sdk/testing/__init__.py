"""Testing kit: the real mock issuer in-process, routed through ``responses``.

Install the ``testing`` extra (``pip install "paylater-sdk[testing]"``). ``MockIssuer`` is
imported lazily so that the pytest plugin (loaded by every pytest run once the SDK is
installed) costs nothing and needs no Flask until a test asks for the ``mock_issuer``
fixture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._mock import MockIssuer
    from ._notify import DeliveredNotification
    from ._wire import CLIENT_FAULTS

__all__ = ["CLIENT_FAULTS", "DeliveredNotification", "MockIssuer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _mock

        return getattr(_mock, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
