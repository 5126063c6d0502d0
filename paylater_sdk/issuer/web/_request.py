"""What both signed faces (``/v1`` and WeChat's ``/v3``) read off a request the same way."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from flask import g, request

from ...lifecycle import FaultKind
from ..domain.issuer import Issuer


def request_target() -> str:
    """The request target exactly as the client sent it (path and query): what it signed."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw:
        if not raw.startswith("/"):
            parts = urlsplit(raw)
            raw = parts.path + (f"?{parts.query}" if parts.query else "")
        return raw
    path = quote(request.environ.get("SCRIPT_NAME", "") + request.environ.get("PATH_INFO", ""))
    query = request.environ.get("QUERY_STRING", "")
    return path + (f"?{query}" if query else "")


def injected_error(issuer: Issuer) -> bool:
    """Take an armed request fault: True to answer this request 500; a timeout fault
    delays the answer instead (``g.delay_response``)."""
    if not g.get("faults_armed"):
        return False
    fault = issuer.take_fault(
        {FaultKind.ERROR_500, FaultKind.TIMEOUT}, request.method, request.path
    )
    if fault == FaultKind.TIMEOUT:
        g.delay_response = issuer.config.fault_timeout
    return fault == FaultKind.ERROR_500
