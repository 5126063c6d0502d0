"""Fixtures for the client's unit tests (the helpers live in ``client_fakes``)."""

from __future__ import annotations

from tests._support.client_fakes import client, fake_issuer, mock, sleeps

__all__ = ["client", "fake_issuer", "mock", "sleeps"]
