"""Issuer configuration: one validated, frozen object built from a plain mapping.

The app factory takes a mapping (as Flask configs are) so that tests, the CLI and the
testing kit all configure the issuer the same way; everything is checked here, once, so
that a typo fails at start-up with a clear message instead of at the first request.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from ..errors import ConfigurationError
from ..installments import DEFAULT_APR_CAP, ServicingPolicy
from ..signing import API_KEY_BYTES
from .credit_settings import (
    RISK_RULE_DEFAULTS,
    CreditPolicy,
    RiskRuleConfig,
    credit_policy,
    review_days,
    risk_rules,
)
from .servicing_settings import load_products

__all__ = [
    "DEFAULTS",
    "RISK_RULE_DEFAULTS",
    "WECHAT_NOTIFY_SCHEDULE",
    "CreditPolicy",
    "IssuerConfig",
    "MerchantConfig",
    "NotifyTransport",
    "RiskRuleConfig",
    "is_api_key",
    "load_config",
]

#: WeChat Pay's callback retry schedule, in seconds between attempts.
WECHAT_NOTIFY_SCHEDULE: tuple[int, ...] = (
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
)  # fmt: skip

NotifyTransport = Callable[[str, dict[str, str], bytes, float], int]

DEFAULTS: Mapping[str, Any] = {
    "DATABASE_URL": None,
    "TEST_MODE": False,
    "SECRET_KEY": None,
    "PUBLIC_URL": None,
    "SIGNING_KEYS": None,
    "PLAN_OFFERS": None,
    "APR_CAP": DEFAULT_APR_CAP,
    "AUTHORIZATION_TTL": 7 * 24 * 3600,
    # the most an authorization may last once extended (POST /v1/orders/{id}/extend), from
    # the authorization; per product (plan id) in PLAN_MAX_AUTHORIZATION_TTL
    "MAX_AUTHORIZATION_TTL": 30 * 24 * 3600,
    "PLAN_MAX_AUTHORIZATION_TTL": {},
    "CHECKOUT_TTL": 1800,
    "MAX_SKEW": 300,
    "NOTIFY_SCHEDULE": WECHAT_NOTIFY_SCHEDULE,
    "NOTIFY_TRANSPORT": None,
    "NOTIFY_WORKER": False,
    "MERCHANTS": (),
    "FAULT_TIMEOUT": 10.0,
    "MAX_BODY_BYTES": 64 * 1024,
    "NONCE_STORE": "database",
    "ELIGIBILITY_LIMIT_PER_BUYER": (30, 600),
    "ELIGIBILITY_LIMIT_PER_MERCHANT": (600, 60),
    # responsible lending (docs/credit.md): the caps on a granted limit, in this order
    "CREDIT_INCOME_MULTIPLE": 3,
    "CREDIT_PRODUCT_CAP": "30000.00",
    "CREDIT_DTI_CAP": "0.50",
    "CREDIT_DTI_MONTHS": 12,
    "CREDIT_MIN_INCOME": "1000.00",
    "CREDIT_REVIEW_DAYS": 30,
    # risk early warning (docs/credit.md): per rule, overrides of RISK_RULE_DEFAULTS
    "RISK_RULES": {},
    # settlement bills (docs/settlement.md): the time zone whose days a bill covers
    "BILL_TIME_ZONE": "Asia/Shanghai",
    # servicing per product (docs/servicing.md): plan id -> ServicingPolicy settings
    "SERVICING": {},
}


@attrs.frozen(repr=False)
class MerchantConfig:
    """A merchant registered at start-up (``MERCHANTS`` entries)."""

    id: str
    name: str
    public_keys: tuple[str, ...]
    api_key: str
    notify_prefixes: tuple[str, ...]
    return_prefixes: tuple[str, ...]

    def __repr__(self) -> str:  # the API key never appears in a repr
        return f"MerchantConfig(id={self.id!r}, name={self.name!r})"


@attrs.frozen(repr=False)
class IssuerConfig:
    """Everything the issuer needs to run; see :data:`DEFAULTS` for the keys."""

    database_url: str | None
    test_mode: bool
    secret_key: str
    public_url: str | None
    signing_keys: tuple[str, ...]
    plan_offers: tuple[Any, ...] | None
    apr_cap: Decimal
    authorization_ttl: int
    checkout_ttl: int
    max_skew: int
    notify_schedule: tuple[int, ...]
    notify_transport: NotifyTransport | None
    notify_worker: bool
    merchants: tuple[MerchantConfig, ...]
    fault_timeout: float
    max_body_bytes: int
    nonce_store: Any = "database"
    eligibility_limit_per_buyer: tuple[int, int] = (30, 600)
    eligibility_limit_per_merchant: tuple[int, int] = (600, 60)
    credit: CreditPolicy = attrs.field(factory=CreditPolicy)
    review_days: int = 30
    risk_rules: Mapping[str, RiskRuleConfig] = attrs.field(factory=dict)
    bill_time_zone: str = "Asia/Shanghai"
    servicing: Mapping[str, ServicingPolicy] = attrs.field(factory=dict)  # by plan id
    max_authorization_ttl: int = 30 * 24 * 3600
    plan_max_authorization_ttl: Mapping[str, int] = attrs.field(factory=dict)

    def max_authorization_ttl_for(self, plan_id: str) -> int:
        """The longest a product's authorization may last, extended, from authorization."""
        return self.plan_max_authorization_ttl.get(plan_id, self.max_authorization_ttl)

    def __repr__(self) -> str:  # SECRET_KEY stays out of logs
        return (
            f"IssuerConfig(database_url={self.database_url!r}, test_mode={self.test_mode}, "
            f"merchants={len(self.merchants)})"
        )


def is_api_key(value: object) -> bool:
    """A merchant API key: a string of exactly 32 bytes (the AES-256 key of notifications)."""
    return isinstance(value, str) and len(value.encode()) == API_KEY_BYTES


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive integer number of seconds")
    return value


def _str_list(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigurationError(f"{name} must be a list of strings")
    if not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"{name} must be a list of strings")
    return tuple(value)


def _merchant(entry: object) -> MerchantConfig:
    if not isinstance(entry, Mapping):
        raise ConfigurationError("each MERCHANTS entry must be a mapping")
    missing = {"id", "public_keys", "api_key"} - set(entry)
    if missing:
        raise ConfigurationError(f"MERCHANTS entry lacks {', '.join(sorted(missing))}")
    mid = entry["id"]
    if not isinstance(mid, str) or not mid:
        raise ConfigurationError("merchant 'id' must be a non-empty string")
    api_key = entry["api_key"]
    if not is_api_key(api_key):
        raise ConfigurationError(f"merchant {mid}: 'api_key' must be a 32-byte string")
    return MerchantConfig(
        id=mid,
        name=str(entry.get("name") or mid),
        public_keys=_str_list("public_keys", entry["public_keys"]),
        api_key=api_key,
        notify_prefixes=_str_list("notify_prefixes", entry.get("notify_prefixes", ())),
        return_prefixes=_str_list("return_prefixes", entry.get("return_prefixes", ())),
    )


def load_config(mapping: Mapping[str, Any] | None) -> IssuerConfig:
    """Merge ``mapping`` over :data:`DEFAULTS` and validate every value."""
    raw = dict(DEFAULTS)
    raw.update(mapping or {})
    test_mode = bool(raw["TEST_MODE"])
    secret = _secret(raw["SECRET_KEY"], test_mode)
    db_url = raw["DATABASE_URL"]
    if db_url is not None and not isinstance(db_url, str):
        raise ConfigurationError("DATABASE_URL must be a SQLAlchemy URL string")
    public_url = _public_url(raw["PUBLIC_URL"])
    apr_cap = _apr_cap(raw["APR_CAP"])
    schedule = _schedule(raw["NOTIFY_SCHEDULE"])
    transport = raw["NOTIFY_TRANSPORT"]
    if transport is not None and not callable(transport):
        raise ConfigurationError("NOTIFY_TRANSPORT must be a callable")
    fault_timeout = raw["FAULT_TIMEOUT"]
    if isinstance(fault_timeout, bool) or not isinstance(fault_timeout, int | float):
        raise ConfigurationError("FAULT_TIMEOUT must be a number of seconds")
    signing = raw["SIGNING_KEYS"]
    offers, servicing = load_products(raw["PLAN_OFFERS"], raw["SERVICING"])
    return IssuerConfig(
        database_url=db_url,
        test_mode=test_mode,
        secret_key=secret,
        public_url=public_url,
        signing_keys=() if signing is None else _str_list("SIGNING_KEYS", signing),
        plan_offers=offers,
        apr_cap=apr_cap,
        authorization_ttl=_positive_int("AUTHORIZATION_TTL", raw["AUTHORIZATION_TTL"]),
        checkout_ttl=_positive_int("CHECKOUT_TTL", raw["CHECKOUT_TTL"]),
        max_skew=_positive_int("MAX_SKEW", raw["MAX_SKEW"]),
        notify_schedule=schedule,
        notify_transport=transport,
        notify_worker=bool(raw["NOTIFY_WORKER"]),
        merchants=tuple(_merchant(m) for m in raw["MERCHANTS"] or ()),
        fault_timeout=float(fault_timeout),
        max_body_bytes=_positive_int("MAX_BODY_BYTES", raw["MAX_BODY_BYTES"]),
        nonce_store=raw["NONCE_STORE"],
        eligibility_limit_per_buyer=_rate("ELIGIBILITY_LIMIT_PER_BUYER", raw),
        eligibility_limit_per_merchant=_rate("ELIGIBILITY_LIMIT_PER_MERCHANT", raw),
        credit=credit_policy(raw),
        review_days=review_days(raw["CREDIT_REVIEW_DAYS"]),
        risk_rules=risk_rules(raw["RISK_RULES"]),
        bill_time_zone=_time_zone(raw["BILL_TIME_ZONE"]),
        servicing=servicing,
        max_authorization_ttl=_positive_int("MAX_AUTHORIZATION_TTL", raw["MAX_AUTHORIZATION_TTL"]),
        plan_max_authorization_ttl=_plan_ttls(raw["PLAN_MAX_AUTHORIZATION_TTL"]),
    )


def _secret(secret: object, test_mode: bool) -> str:
    """The session-signing secret; in test mode every process shares one kept in the database."""
    if secret is None:
        if not test_mode:
            raise ConfigurationError("SECRET_KEY is required unless TEST_MODE is on")
        return ""
    if not isinstance(secret, str | bytes) or len(secret) < 16:
        raise ConfigurationError("SECRET_KEY must be a string of at least 16 characters")
    return secret if isinstance(secret, str) else secret.decode("latin-1")


def _public_url(public_url: object) -> str | None:
    if public_url is None:
        return None
    if not isinstance(public_url, str) or not public_url.startswith(("http://", "https://")):
        raise ConfigurationError("PUBLIC_URL must be an http(s) URL")
    return public_url.rstrip("/")


def _apr_cap(apr_cap: object) -> Decimal:
    if isinstance(apr_cap, float | bool) or not isinstance(apr_cap, Decimal | int | str):
        raise ConfigurationError("APR_CAP must be a Decimal (floats are refused), e.g. '0.24'")
    try:
        cap = Decimal(apr_cap)
    except ArithmeticError:
        raise ConfigurationError("APR_CAP must be a decimal fraction such as '0.24'") from None
    if not cap.is_finite() or cap <= 0:
        raise ConfigurationError("APR_CAP must be a positive fraction such as 0.24")
    return cap


def _schedule(schedule: object) -> tuple[int, ...]:
    if isinstance(schedule, str) or not isinstance(schedule, Sequence) or not schedule:
        raise ConfigurationError("NOTIFY_SCHEDULE must be a non-empty list of seconds")
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in schedule):
        raise ConfigurationError("NOTIFY_SCHEDULE entries must be non-negative integers")
    return tuple(schedule)


def _plan_ttls(value: object) -> dict[str, int]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigurationError("PLAN_MAX_AUTHORIZATION_TTL must map plan ids to seconds")
    return {k: _positive_int(f"PLAN_MAX_AUTHORIZATION_TTL[{k!r}]", v) for k, v in value.items()}


def _time_zone(value: object) -> str:
    """An IANA zone name the bills can use (checked at start-up, not at the first bill)."""
    try:
        if isinstance(value, str) and value:
            zoneinfo.ZoneInfo(value)
            return value
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    raise ConfigurationError(f"BILL_TIME_ZONE must be an IANA time zone name, got {value!r}")


def _rate(name: str, raw: Mapping[str, Any]) -> tuple[int, int]:
    """A rate limit as ``(requests, seconds)``: at most that many requests per window."""
    value = raw[name]
    if (
        isinstance(value, str)
        or not isinstance(value, Sequence)
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in value)
    ):
        raise ConfigurationError(f"{name} must be [requests, seconds], two positive integers")
    return int(value[0]), int(value[1])
