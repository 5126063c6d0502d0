"""The pytest plugin is loaded by every pytest run once the SDK is installed: keep it light."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module", ["paylater_sdk", "paylater_sdk.client", "paylater_sdk.testing.pytest_plugin"]
)
def test_importing_pulls_in_no_flask_or_sqlalchemy(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "heavy = sorted({'flask', 'sqlalchemy', 'responses'} & set(sys.modules)); "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_kit_is_available_lazily() -> None:
    import paylater_sdk.testing as kit

    assert kit.MockIssuer.__name__ == "MockIssuer"
    assert "connection_drop_after_commit" in kit.CLIENT_FAULTS
    with pytest.raises(AttributeError):
        kit.NoSuchThing  # noqa: B018
