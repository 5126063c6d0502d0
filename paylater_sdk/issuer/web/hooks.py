"""App-wide HTTP behaviour: request ids everywhere; under /v1 and /_test, JSON errors
for everything (Werkzeug's HTML error pages included) and, under /v1, a signature on
every response, errors and injected faults included, so a client can treat any unsigned
answer as forged.
"""

from __future__ import annotations

import logging
import secrets
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from ...errors import PayLaterError
from ...lifecycle import API_VERSION, VERSION_HEADER
from ..domain.ratelimit import RateLimitedError
from ..storage.schema import log_failure
from ._context import issuer_of
from .wire import error_response, json_response, retry_after, status_and_body

__all__ = ["install_error_handling"]

log = logging.getLogger(__name__)

# --- app-wide hooks: request ids, JSON errors, response signing -------------------------------

_JSON_PREFIXES = ("/v1", "/_test")
_HTTP_CODES = {
    400: "INVALID_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "BODY_TOO_LARGE",
    414: "INVALID_QUERY",
    415: "UNSUPPORTED_MEDIA_TYPE",
    431: "INVALID_REQUEST",
}


def _wants_json() -> bool:
    return request.path == "/v1" or request.path.startswith(tuple(p + "/" for p in _JSON_PREFIXES))


def install_error_handling(app: Flask) -> None:
    """Request ids everywhere; JSON errors and signed responses under /v1 and /_test."""

    @app.before_request
    def _request_id() -> None:
        g.request_id = f"req_{secrets.token_hex(12)}"
        # Another process may have moved the test clock or armed a fault: every request
        # sees both (one query, test mode only).
        g.faults_armed = issuer_of(app).sync_clock()

    @app.errorhandler(PayLaterError)
    def _deliberate(exc: PayLaterError) -> Response:
        answer = status_and_body(exc)
        if answer is None:
            log.exception("unexpected library error", exc_info=exc)
            return error_response(500, "INTERNAL_ERROR", "internal error")
        seconds = exc.retry_after if isinstance(exc, RateLimitedError) else None
        return json_response(answer[1], answer[0], retry_after(answer[1]["code"], seconds))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response | HTTPException:
        if not _wants_json():
            return exc
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "INVALID_REQUEST" if status < 500 else "INTERNAL_ERROR")
        message = {
            404: "no such endpoint or object",
            405: f"{request.method} is not allowed here",
            413: "the request body is over 64 KiB",
        }.get(status, exc.description or exc.name)
        response = error_response(status, code, str(message))
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log_failure(log, "unhandled error on %s %s", exc, request.method, request.path)
        return error_response(
            500, "INTERNAL_ERROR", "internal error; the request id helps us find it"
        )

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["Request-Id"] = request_id
        if request.path == "/v1" or request.path.startswith("/v1/"):
            delay = g.pop("delay_response", None)
            if delay:
                time.sleep(delay)
            # Every /v1 answer says the API version it was made in (docs/api.md).
            response.headers[VERSION_HEADER] = API_VERSION
            signer = issuer_of(app).response_signer()
            for name, value in signer.headers(response.get_data()).items():
                response.headers[name] = value
        return response
