"""How the client names itself and hides secrets in logs (shared by the core and services)."""

from __future__ import annotations


def mask(secret: str) -> str:
    """First 4 characters and an ellipsis: enough to correlate logs, useless to an attacker."""
    return secret[:4] + "…" if len(secret) > 4 else "…"


def _user_agent() -> str:
    try:
        from importlib.metadata import version

        return f"paylater-sdk-python/{version('paylater-sdk')}"
    except Exception:  # pragma: no cover - not installed as a distribution
        return "paylater-sdk-python"


#: Sent on every request.
USER_AGENT = _user_agent()
