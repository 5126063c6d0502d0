"""CLI tests (a package, so test_keys.py here and in tests/client/ do not clash)."""
