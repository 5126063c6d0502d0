"""Shared fakes and helpers for the test suite (importable as ``tests._support``)."""
