"""The issuer's storage: every table, the engine, migrations, locks, idempotent answers,
nonces and the facts all processes share."""
