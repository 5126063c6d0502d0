"""The issuer's servicing settings per product (``SERVICING``), validated at start-up.

A product is an offer (a plan id); its servicing settings are a
:class:`~paylater_sdk.installments.ServicingPolicy` (docs/servicing.md, "Settings per
product"): grace days, the annual cost cap and its date-aware ``cap_table``, the penalty's
daily ceiling, an optional flat late fee, the allocation order, ``payoff_fees``, the
write-off days and a fixed ``due_day``. A product not named keeps the documented
defaults. Everything is checked here, once, so that a typo fails at start-up with a
message naming the product and the setting, never at a buyer's repayment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from ..errors import ConfigurationError
from ..installments import (
    DEFAULT_POLICY,
    STANDARD_OFFERS,
    PlanOffer,
    ServicingError,
    ServicingPolicy,
)
from ..money import Money

__all__ = ["apply_due_days", "load_products", "load_servicing"]


def _late_fee(value: object, currency: str) -> object:
    """A late fee as Money, a Money JSON object or a decimal string in the plan's currency."""
    try:
        if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
            return Money(Decimal(value), currency)
        if isinstance(value, Mapping):
            return Money.from_json(dict(value))
    except (ValueError, ArithmeticError):
        raise ServicingError(
            f"late_fee must be an amount such as '5.00', got {value!r}",
            code="INVALID_FIELD",
            field="late_fee",
        ) from None
    return value


def _cap_row(row: object) -> object:
    """A ``cap_table`` row: ``{"from": "YYYY-MM-DD", "rate": "0.124"}`` or (date, rate)."""
    if isinstance(row, Mapping) and set(row) == {"from", "rate"}:
        since = row["from"]
        try:
            day = date.fromisoformat(since) if isinstance(since, str) else since
        except ValueError:
            raise ServicingError(
                f"cap_table 'from' must be a date YYYY-MM-DD, got {since!r}",
                code="INVALID_FIELD",
                field="cap_table",
            ) from None
        return (day, row["rate"])
    return row


def _policy(given: object, offer: PlanOffer) -> ServicingPolicy:
    if isinstance(given, ServicingPolicy):
        policy = given
    elif isinstance(given, Mapping):
        values: dict[str, Any] = dict(given)
        unknown = sorted(set(map(str, values)) - set(DEFAULT_POLICY.to_json()))
        if unknown:
            raise ServicingError(
                f"unknown setting (use {', '.join(DEFAULT_POLICY.to_json())})",
                code="INVALID_FIELD",
                field=unknown[0],
            )
        if values.get("late_fee") is not None:
            values["late_fee"] = _late_fee(values["late_fee"], offer.currency)
        table = values.get("cap_table")
        if isinstance(table, Sequence) and not isinstance(table, str):
            values["cap_table"] = [_cap_row(row) for row in table]
        policy = ServicingPolicy(**values)
    else:
        raise ServicingError("the settings must be a mapping", code="INVALID_FIELD")
    policy.terms_for(offer.terms)  # a due_day on a bi-weekly plan fails here
    if policy.late_fee is not None and policy.late_fee.currency != offer.currency:
        raise ServicingError(
            f"the late fee must be in {offer.currency}, the plan's currency",
            code="INVALID_FIELD",
            field="late_fee",
        )
    return policy


def load_servicing(value: object, offers: Sequence[PlanOffer]) -> dict[str, ServicingPolicy]:
    """``SERVICING`` (plan id -> settings) as each named product's policy.

    Raises :class:`ConfigurationError` naming the product and the setting, e.g.
    ``SERVICING['fenfu-6'].payoff_fees: unknown payoff_fees 'SOME' ...``.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError("SERVICING must be a mapping of plan id to servicing settings")
    by_id = {o.plan_id: o for o in offers}
    out: dict[str, ServicingPolicy] = {}
    for plan_id, given in value.items():
        if plan_id not in by_id:
            known = ", ".join(sorted(by_id)) or "none"
            raise ConfigurationError(
                f"SERVICING[{plan_id!r}]: no offered plan has this id (offered: {known})"
            )
        try:
            out[plan_id] = _policy(given, by_id[plan_id])
        except (ServicingError, ValueError, TypeError, ArithmeticError) as exc:
            field = getattr(exc, "field", None)
            where = f"SERVICING[{plan_id!r}]" + (f".{field}" if field else "")
            raise ConfigurationError(f"{where}: {getattr(exc, 'message', exc)}") from None
    return out


def apply_due_days(
    offers: Sequence[PlanOffer], servicing: Mapping[str, ServicingPolicy]
) -> tuple[PlanOffer, ...]:
    """The offers with each product's ``due_day`` in its terms: the quote shown at checkout
    (its schedule and APR) and the schedule booked at capture are then the same one."""
    out = []
    for offer in offers:
        policy = servicing.get(offer.plan_id)
        terms = offer.terms if policy is None else policy.terms_for(offer.terms)
        out.append(offer if terms is offer.terms else PlanOffer(
            offer.plan_id, offer.name, terms, offer.min_amount, offer.max_amount
        ))  # fmt: skip
    return tuple(out)


def load_products(
    offers: object, servicing: object
) -> tuple[tuple[PlanOffer, ...], dict[str, ServicingPolicy]]:
    """``PLAN_OFFERS`` (None: the standard catalogue) and ``SERVICING``, checked together:
    the offers with their products' due days applied, and each named product's policy."""
    if offers is None:
        catalogue: tuple[PlanOffer, ...] = STANDARD_OFFERS
    elif isinstance(offers, Sequence) and all(isinstance(o, PlanOffer) for o in offers):
        catalogue = tuple(offers)
    else:
        raise ConfigurationError("PLAN_OFFERS must be a list of installments.PlanOffer")
    policies = load_servicing(servicing, catalogue)
    return apply_due_days(catalogue, policies), policies
