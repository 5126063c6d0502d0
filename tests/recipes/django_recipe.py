"""Django: receive the issuer's notifications (docs/webhooks.md).

Settings: ``PAYLATER_BASE_URL``, ``PAYLATER`` (the client's keyword arguments) and
``SHOP_DB`` (the path of the recipes' sqlite3 database); this module is the URLconf.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from paylater_sdk.client import PayLaterClient
from paylater_sdk.errors import SignatureError

from .shop_db import ShopDB


@cache
def paylater() -> PayLaterClient:
    """One client per process (it is thread-safe and caches the issuer's keys)."""
    return PayLaterClient(settings.PAYLATER_BASE_URL, **settings.PAYLATER)


@csrf_exempt  # the issuer signs its requests; it has no CSRF cookie
@require_POST
def paylater_notify(request: HttpRequest) -> HttpResponse:
    try:
        # request.body is the raw bytes; request.headers is case-insensitive
        event = paylater().notifications.parse(request.headers, request.body)
    except SignatureError:
        return HttpResponse(status=400)  # not from the issuer, or altered
    ShopDB(settings.SHOP_DB).apply(event)  # once per event id; an exception answers 500
    return HttpResponse(status=204)


urlpatterns = [path("paylater/notify", paylater_notify)]
