"""Suite-wide settings. Package-specific fixtures live in the conftest.py of each folder."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests._support.http_environment import clear_http_environment

# Property tests must not flake on a loaded 2-core CI machine: no per-example deadline.
_QUIET = [HealthCheck.too_slow]
settings.register_profile("default", deadline=None, suppress_health_check=_QUIET)
# CI (CI=true) replays the same examples every run, so a landing is never decided by luck;
# developers' runs keep exploring new examples. Hunting bugs: HYPOTHESIS_PROFILE=stress.
settings.register_profile("ci", settings.get_profile("default"), derandomize=True)
settings.register_profile("stress", settings.get_profile("default"), max_examples=2000)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
)


@pytest.fixture
def http_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """``monkeypatch``, with no proxy, CA bundle or netrc variable of the machine's left."""
    clear_http_environment(monkeypatch)
    return monkeypatch
