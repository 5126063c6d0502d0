"""Suite-wide settings. Package-specific fixtures live in the conftest.py of each folder."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Property tests must not flake on a loaded 2-core CI machine: no per-example deadline.
settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.load_profile("default")
