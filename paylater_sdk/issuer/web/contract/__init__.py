"""The HTTP contract of the issuer, declared once: request and response models, the routes.

- :mod:`._fields`: field rules (validation in pydantic-core, and the API's wording of a
  refusal); :mod:`._bodies`: request bodies; :mod:`._answers`: response objects;
- :mod:`._routes`: the route table, :func:`serve` binding views to it;
- :mod:`._validate`: a body validated with its model, or its 400 refusal;
- :mod:`._openapi`: the OpenAPI 3.1 document generated from all of it.

The web layer imports this package; the domain never does.
"""

from __future__ import annotations

from . import _answers as answers
from . import _bodies as bodies
from ._openapi import openapi_document
from ._routes import (
    QUOTE_AMOUNT,
    QUOTE_CURRENCY,
    ROUTE_BY_ID,
    ROUTES,
    Answer,
    Route,
    current_route,
    request_body,
    serve,
    success_status,
)
from ._validate import positive_amount, validate

__all__ = [
    "QUOTE_AMOUNT",
    "QUOTE_CURRENCY",
    "ROUTES",
    "ROUTE_BY_ID",
    "Answer",
    "Route",
    "answers",
    "bodies",
    "current_route",
    "openapi_document",
    "positive_amount",
    "request_body",
    "serve",
    "success_status",
    "validate",
]
