"""The scorecard, every cap and every decline reason, with the worked figures of
docs/credit.md; and a property: no decision ever exceeds any cap."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paylater_sdk.issuer.config import CreditPolicy, load_config
from paylater_sdk.issuer.domain.scorecard import (
    Application,
    Decision,
    Profile,
    ScorecardModel,
    decide,
    derived_profile,
    points,
)
from paylater_sdk.lifecycle import CreditGrade, DecisionReason, Employment
from paylater_sdk.money import Money

R = DecisionReason
GOOD = Profile(85, 36, 2, 0)
MODEL = ScorecardModel()


def cny(yuan: str | int) -> Money:
    return Money(Decimal(yuan), "CNY")


def app(
    income: str | int = 8000,
    debt: str | int = 1500,
    employment: Employment = Employment.SALARIED,
    profile: Profile = GOOD,
    consent: bool = True,
) -> Application:
    return Application(cny(income), cny(debt), employment, consent, profile)


def caps(decision: Decision) -> dict[str, tuple[Money, bool]]:
    return {c.name: (c.value, c.applied) for c in decision.caps}


def test_worked_example_1_grade_b_no_cap_binds() -> None:
    decision = MODEL.decide(app())
    assert dict(decision.points) == {
        "payment_history": 110,
        "credit_history_months": 60,
        "active_lines": 40,
        "employment": 80,
        "debt_to_income": 40,
        "income": 40,
    }
    assert decision.score == 370
    assert (decision.approved, decision.grade, decision.reasons) == (True, CreditGrade.B, ())
    assert decision.base_limit == cny(20000)
    assert caps(decision) == {
        "INCOME_MULTIPLE": (cny(24000), False),
        "PRODUCT_CAP": (cny(30000), False),
        "DEBT_TO_INCOME": (cny(30000), False),
    }
    assert decision.limit == cny(20000)
    assert decision.to_json() == {
        "approved": True,
        "limit": {"value": 2000000, "currency": "CNY"},
        "grade": "B",
        "reasons": [],
        "model_version": "scorecard-v1",
    }


def test_worked_example_2_income_and_dti_caps_bind() -> None:
    decision = MODEL.decide(app(5000, 1800, profile=Profile(95, 80, 0, 0)))
    assert decision.score == 140 + 90 + 60 + 80 + 10 + 20 == 400
    assert decision.grade == CreditGrade.A
    assert decision.base_limit == cny(30000)
    assert caps(decision) == {
        "INCOME_MULTIPLE": (cny(15000), True),
        "PRODUCT_CAP": (cny(30000), False),
        "DEBT_TO_INCOME": (cny(8400), True),  # 12 x (2,500 - 1,800)
    }
    assert decision.limit == cny(8400)


def test_worked_example_3_the_product_cap_binds_when_configured_lower() -> None:
    policy = load_config({"TEST_MODE": True, "CREDIT_PRODUCT_CAP": "10000.00"}).credit
    decision = ScorecardModel(policy).decide(app(30000, 0, profile=Profile(95, 80, 0, 0)))
    assert decision.score == 140 + 90 + 60 + 80 + 60 + 60
    assert caps(decision)["PRODUCT_CAP"] == (cny(10000), True)
    assert decision.limit == cny(10000)


def test_the_limit_is_rounded_down_to_whole_hundreds() -> None:
    # DTI cap 12 x (0.5 x 3,333.33 - 1,000) = 7,999.98 -> 7,900
    decision = MODEL.decide(app("3333.33", 1000, profile=Profile(95, 80, 0, 0)))
    assert caps(decision)["DEBT_TO_INCOME"] == (cny("7999.98"), True)
    assert decision.limit == cny(7900)


@pytest.mark.parametrize(
    ("total", "grade", "base"),
    [
        (400, CreditGrade.A, 30000),
        (330, CreditGrade.B, 20000),
        (260, CreditGrade.C, 12000),
        (200, CreditGrade.D, 6000),
        (150, CreditGrade.E, 2000),
    ],
)
def test_grade_thresholds(total: int, grade: CreditGrade, base: int) -> None:
    found = _with_total(total)
    assert found.score == total
    assert found.grade == grade
    assert found.base_limit == cny(base)
    below = _with_total(total - 10)
    assert below.grade != grade


def _with_total(total: int) -> Decision:
    """A decision whose points total is ``total`` (searches the profile space)."""
    for history in (100, 85, 70, 50, 10):
        for months in (100, 30, 10):
            for lines in (0, 2, 4, 9):
                for employment in Employment:
                    if employment == Employment.STUDENT:
                        continue
                    for income, debt in ((30000, 0), (10000, 2000), (5000, 2000), (2000, 900)):
                        candidate = app(
                            income, debt, employment, Profile(history, months, lines, 0)
                        )
                        if sum(p for _, p in points(candidate)) == total:
                            return MODEL.decide(candidate)
    raise AssertionError(f"no profile scores {total}")


def test_score_too_low() -> None:
    decision = MODEL.decide(app(1500, 700, Employment.UNEMPLOYED, Profile(20, 7, 8, 0)))
    assert decision.score == 0 + 30 + 0 + 0 + 10 + 0
    assert (decision.approved, decision.grade, decision.reasons) == (
        False,
        None,
        (R.SCORE_TOO_LOW,),
    )
    assert decision.limit == cny(0)


@pytest.mark.parametrize(
    ("application", "reasons"),
    [
        (app(consent=False), (R.NO_CONSENT,)),
        (app(employment=Employment.STUDENT), (R.STUDENT,)),
        (app("999.99", 0), (R.INCOME_TOO_LOW,)),
        (app(4000, 2000), (R.DEBT_TO_INCOME,)),  # exactly 50 %
        (app(profile=Profile(85, 36, 2, 1)), (R.RECENT_DEFAULT,)),
        (app(profile=Profile(85, 5, 2, 0)), (R.THIN_FILE,)),
    ],
)
def test_each_decline_reason(application: Application, reasons: tuple[R, ...]) -> None:
    decision = MODEL.decide(application)
    assert (decision.approved, decision.reasons, decision.grade) == (False, reasons, None)
    assert decision.limit == cny(0)


def test_just_under_the_thresholds_is_approved() -> None:
    assert MODEL.decide(app(1000, 0, profile=Profile(95, 80, 0, 0))).approved
    near = MODEL.decide(app(4000, 1900, profile=Profile(95, 80, 0, 0)))  # DTI 47.5 %
    assert near.approved
    assert near.limit == cny(1200)
    assert MODEL.decide(app(profile=Profile(85, 6, 2, 0))).approved


def test_at_most_three_reasons_strongest_first() -> None:
    decision = MODEL.decide(
        app(500, 400, Employment.STUDENT, Profile(10, 1, 9, 2))  # six reasons apply
    )
    assert decision.reasons == (R.STUDENT, R.INCOME_TOO_LOW, R.DEBT_TO_INCOME)


def test_no_consent_processes_no_data() -> None:
    decision = MODEL.decide(app(consent=False, employment=Employment.STUDENT))
    assert decision.reasons == (R.NO_CONSENT,)
    assert decision.points == ()
    assert decision.score is None


def test_a_tiny_dti_room_declines_with_debt_to_income() -> None:
    # 12 x (500 - 495) = 60 yuan: under the ¥100 step, nothing to lend
    decision = MODEL.decide(app(1000, 495, profile=Profile(95, 80, 0, 0)))
    assert decision.reasons == (R.DEBT_TO_INCOME,)
    assert not decision.approved


def test_the_profile_from_a_phone_is_deterministic() -> None:
    assert derived_profile("13812341234") == derived_profile("13812341234")
    assert len({derived_profile(f"138{i:08d}") for i in range(50)}) > 40


@attrs.frozen
class Generous:
    """A model that grants everyone a million: the caps must still hold."""

    version: str = "generous-1"

    def decide(self, application: Application) -> Decision:
        return Decision(True, cny(1_000_000), CreditGrade.A, (), self.version)


def _assert_within_caps(decision: Decision, application: Application, policy: CreditPolicy) -> None:
    income = application.monthly_income.minor
    debt = application.monthly_debt_payments.minor
    limit = decision.limit.minor
    assert limit >= 0
    assert limit <= policy.income_multiple * income
    assert limit <= policy.product_cap.minor
    assert Decimal(limit) <= policy.dti_months * (policy.dti_cap * income - debt) or limit == 0
    # repaying the line over 12 months keeps the debt-to-income at or under the cap
    if limit:
        assert (debt + Decimal(limit) / policy.dti_months) / income <= policy.dti_cap
    if not decision.approved:
        assert limit == 0
        assert decision.reasons
        assert decision.grade is None


_money = st.integers(min_value=0, max_value=10_000_000).map(lambda m: Money.from_minor(m, "CNY"))
_profiles = st.builds(
    Profile,
    st.integers(0, 100),
    st.integers(0, 600),
    st.integers(0, 30),
    st.integers(0, 5),
)
_applications = st.builds(
    Application, _money, _money, st.sampled_from(list(Employment)), st.booleans(), _profiles
)
_policies = st.builds(
    CreditPolicy,
    income_multiple=st.integers(1, 10),
    product_cap=st.integers(1, 10_000_000).map(lambda m: Money.from_minor(m, "CNY")),
    dti_cap=st.sampled_from([Decimal("0.3"), Decimal("0.5"), Decimal("0.65")]),
    dti_months=st.integers(1, 36),
)


@settings(max_examples=400, deadline=None)
@given(_applications, _policies)
def test_no_decision_ever_exceeds_any_cap(application: Application, policy: CreditPolicy) -> None:
    for model in (ScorecardModel(policy), Generous()):
        decision = decide(model, application, policy)
        _assert_within_caps(decision, application, policy)
        assert len(decision.reasons) <= 3
        assert list(decision.reasons) == sorted(decision.reasons, key=list(R).index)
