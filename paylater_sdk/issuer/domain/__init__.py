"""The issuer's domain: checkouts, orders, refunds, the credit ledger, merchants, the clock
and test faults. It knows nothing of Flask or HTTP: operations raise errors with a code,
and the web layer maps codes to statuses."""
