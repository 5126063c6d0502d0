"""The credit decision engine: a points scorecard, hard declines and the lending caps.

A :class:`CreditModel` turns an :class:`Application` into a :class:`Decision`. The default,
:class:`ScorecardModel`, is deliberately simple and fully documented (docs/credit.md): each
factor earns points, the total picks a grade A..E, the grade a base limit, and the base
limit is then cut by the responsible-lending caps of :class:`~..config.CreditPolicy`, in
their order. Whatever model is plugged in, :func:`decide` applies the caps again, so no
model can grant more than the caps allow (over-crediting, 过度授信, is a policy, not a
model's opinion). Pure functions, no I/O: a decision takes microseconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Protocol

import attrs

from ...lifecycle import CreditGrade, DecisionReason, Employment
from ...money import Money
from ..config import CreditPolicy

__all__ = [
    "GRADES",
    "MODEL_VERSION",
    "Application",
    "CapStep",
    "CreditModel",
    "Decision",
    "Profile",
    "ScorecardModel",
    "apply_caps",
    "decide",
    "derived_profile",
    "dti",
]

MODEL_VERSION = "scorecard-v1"

#: (lowest total, grade, base limit in yuan), best first; below the last: SCORE_TOO_LOW.
GRADES: tuple[tuple[int, CreditGrade, int], ...] = (
    (400, CreditGrade.A, 30_000),
    (330, CreditGrade.B, 20_000),
    (260, CreditGrade.C, 12_000),
    (200, CreditGrade.D, 6_000),
    (150, CreditGrade.E, 2_000),
)

#: Months of credit history under which a file is too thin to score.
THIN_FILE_MONTHS = 6
#: Granted limits are whole multiples of this many yuan (rounded down, after the caps).
LIMIT_STEP = 100
#: At most this many reasons are reported, the strongest first.
MAX_REASONS = 3


@attrs.frozen
class Profile:
    """The simulated external signals (the "big data" of a real bureau)."""

    payment_history_score: int  # 0..100, higher is better
    months_since_first_credit: int
    active_credit_lines: int  # credit lines open elsewhere
    defaults_last_24_months: int  # defaults in the last 24 months

    def to_json(self) -> dict[str, int]:
        return {
            "payment_history_score": self.payment_history_score,
            "months_since_first_credit": self.months_since_first_credit,
            "active_credit_lines": self.active_credit_lines,
            "defaults_last_24_months": self.defaults_last_24_months,
        }


def derived_profile(phone: str) -> Profile:
    """A profile derived from the phone alone, so the same phone always gets the same
    decision (a sandbox stands in for the bureau this way); about 9 in 10 phones pass."""
    d = hashlib.sha256(b"paylater-profile:" + phone.encode()).digest()
    return Profile(
        payment_history_score=40 + d[0] % 61,
        months_since_first_credit=d[1] % 121,
        active_credit_lines=d[2] % 6,
        defaults_last_24_months=1 if d[3] < 10 else 0,
    )


@attrs.frozen
class Application:
    """What the applicant declared (CNY amounts per month) plus the profile."""

    monthly_income: Money
    monthly_debt_payments: Money
    employment: Employment
    consent: bool
    profile: Profile

    def inputs_json(self) -> dict[str, Any]:
        """The inputs as recorded with the decision: no phone, no name, no token."""
        return {
            "monthly_income": self.monthly_income.to_json(),
            "monthly_debt_payments": self.monthly_debt_payments.to_json(),
            "employment": self.employment.value,
            "consent": self.consent,
            "profile": self.profile.to_json(),
        }


@attrs.frozen
class CapStep:
    """One cap as applied: its value and whether it lowered the limit."""

    name: str
    value: Money
    applied: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value.to_json(), "applied": self.applied}


@attrs.frozen
class Decision:
    """A credit decision: the wire part (:meth:`to_json`) and its record (:meth:`record`)."""

    approved: bool
    limit: Money
    grade: CreditGrade | None
    reasons: tuple[DecisionReason, ...]
    model_version: str
    points: tuple[tuple[str, int], ...] = ()
    score: int | None = None
    base_limit: Money | None = None
    caps: tuple[CapStep, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The ``decision`` object of ``POST /_test/buyers/apply``."""
        return {
            "approved": self.approved,
            "limit": self.limit.to_json(),
            "grade": None if self.grade is None else self.grade.value,
            "reasons": [r.value for r in self.reasons],
            "model_version": self.model_version,
        }

    def record(self) -> dict[str, Any]:
        """Everything that explains the decision (the append-only decision record)."""
        return {
            **self.to_json(),
            "points": dict(self.points),
            "score": self.score,
            "base_limit": None if self.base_limit is None else self.base_limit.to_json(),
            "caps": [c.to_json() for c in self.caps],
        }


class CreditModel(Protocol):
    """application -> decision; :func:`decide` enforces the caps on whatever it returns."""

    @property
    def version(self) -> str: ...

    def decide(self, application: Application) -> Decision: ...


def dti(debt: Money, income: Money) -> Decimal | None:
    """Debt payments over income (None when there is no income to divide by)."""
    if income.minor <= 0:
        return None
    return Decimal(debt.minor) / Decimal(income.minor)


def _band(value: int | Decimal, bands: tuple[tuple[int | Decimal, int], ...]) -> int:
    """The points of the first band whose lower bound ``value`` reaches (bands descend)."""
    for low, points in bands:
        if value >= low:
            return points
    return 0


_HISTORY = ((90, 140), (80, 110), (60, 80), (40, 40))
_MONTHS = ((60, 90), (24, 60), (6, 30))
_EMPLOYMENT = {
    Employment.SALARIED: 80,
    Employment.RETIRED: 60,
    Employment.SELF_EMPLOYED: 50,
    Employment.UNEMPLOYED: 0,
    Employment.STUDENT: 0,
}
_INCOME_YUAN = ((20_000, 60), (8_000, 40), (3_000, 20))


def points(application: Application) -> tuple[tuple[str, int], ...]:
    """The scorecard's points per factor (docs/credit.md, "The scorecard")."""
    profile = application.profile
    lines = profile.active_credit_lines
    ratio = dti(application.monthly_debt_payments, application.monthly_income)
    if ratio is None or ratio >= Decimal("0.5"):
        dti_points = 0
    else:
        dti_points = 60 if ratio < Decimal("0.1") else 40 if ratio < Decimal("0.3") else 10
    income_yuan = application.monthly_income.amount
    return (
        ("payment_history", _band(profile.payment_history_score, _HISTORY)),
        ("credit_history_months", _band(profile.months_since_first_credit, _MONTHS)),
        ("active_lines", 60 if lines <= 1 else 40 if lines <= 3 else 15 if lines <= 5 else 0),
        ("employment", _EMPLOYMENT[application.employment]),
        ("debt_to_income", dti_points),
        ("income", _band(income_yuan, tuple((Decimal(y), p) for y, p in _INCOME_YUAN))),
    )


def _hard_reasons(application: Application, policy: CreditPolicy) -> set[DecisionReason]:
    found: set[DecisionReason] = set()
    if application.employment == Employment.STUDENT:
        found.add(DecisionReason.STUDENT)
    if application.monthly_income.minor < policy.min_income.minor:
        found.add(DecisionReason.INCOME_TOO_LOW)
    ratio = dti(application.monthly_debt_payments, application.monthly_income)
    if ratio is not None and ratio >= policy.dti_cap:
        found.add(DecisionReason.DEBT_TO_INCOME)
    if application.profile.defaults_last_24_months > 0:
        found.add(DecisionReason.RECENT_DEFAULT)
    if application.profile.months_since_first_credit < THIN_FILE_MONTHS:
        found.add(DecisionReason.THIN_FILE)
    return found


def _strongest(found: set[DecisionReason]) -> tuple[DecisionReason, ...]:
    return tuple(r for r in DecisionReason if r in found)[:MAX_REASONS]


def _yuan(value: int) -> Money:
    return Money.from_minor(value * 100, "CNY")


def apply_caps(
    base: Money, application: Application, policy: CreditPolicy
) -> tuple[Money, tuple[CapStep, ...]]:
    """``base`` cut by each cap in order, then rounded down to whole ¥100 (never below 0)."""
    income = application.monthly_income.minor
    debt = application.monthly_debt_payments.minor
    room = Decimal(income) * policy.dti_cap - debt  # monthly payment capacity left
    dti_cap = int((room * policy.dti_months).to_integral_value(ROUND_FLOOR))
    caps = (
        ("INCOME_MULTIPLE", income * policy.income_multiple),
        ("PRODUCT_CAP", policy.product_cap.minor),
        ("DEBT_TO_INCOME", max(dti_cap, 0)),
    )
    limit = base.minor
    steps = []
    for name, value in caps:
        steps.append(CapStep(name, Money.from_minor(value, "CNY"), value < limit))
        limit = min(limit, value)
    step = LIMIT_STEP * 100
    limit = max(limit, 0) // step * step
    return Money.from_minor(limit, "CNY"), tuple(steps)


@attrs.frozen
class ScorecardModel:
    """The default model: hard declines, points, grade, base limit, caps."""

    policy: CreditPolicy = attrs.field(factory=CreditPolicy)
    version: str = MODEL_VERSION

    def decide(self, application: Application) -> Decision:
        zero = Money.zero("CNY")
        if not application.consent:  # without consent no data is processed at all
            return Decision(False, zero, None, (DecisionReason.NO_CONSENT,), self.version)
        scored = points(application)
        total = sum(p for _, p in scored)
        found = _hard_reasons(application, self.policy)
        grade = next(((g, base) for low, g, base in GRADES if total >= low), None)
        if grade is None:
            found.add(DecisionReason.SCORE_TOO_LOW)
        base = _yuan(grade[1]) if grade else zero
        limit, caps = apply_caps(base, application, self.policy)
        if not found and limit.minor == 0:  # the debt-to-income cap left nothing to lend
            found.add(DecisionReason.DEBT_TO_INCOME)
        approved = not found
        return Decision(
            approved=approved,
            limit=limit if approved else zero,
            grade=grade[0] if approved and grade else None,
            reasons=_strongest(found),
            model_version=self.version,
            points=scored,
            score=total,
            base_limit=base,
            caps=caps,
        )


def decide(model: CreditModel, application: Application, policy: CreditPolicy) -> Decision:
    """``model``'s decision with the caps enforced on it (a model cannot over-credit)."""
    decision = model.decide(application)
    if not decision.approved or decision.limit.currency != "CNY":
        return attrs.evolve(decision, approved=False, limit=Money.zero("CNY"), grade=None)
    limit, caps = apply_caps(decision.limit, application, policy)
    if limit.minor == 0:
        cut = any(c.applied for c in caps)
        reason = DecisionReason.DEBT_TO_INCOME if cut else DecisionReason.SCORE_TOO_LOW
        return attrs.evolve(
            decision, approved=False, limit=limit, grade=None, reasons=(reason,), caps=caps
        )
    if limit == decision.limit:
        return decision
    return attrs.evolve(decision, limit=limit, caps=caps)


def profile_from_json(data: Mapping[str, Any]) -> Profile:
    """A :class:`Profile` from already validated wire fields."""
    return Profile(
        payment_history_score=int(data["payment_history_score"]),
        months_since_first_credit=int(data["months_since_first_credit"]),
        active_credit_lines=int(data["active_credit_lines"]),
        defaults_last_24_months=int(data["defaults_last_24_months"]),
    )
