"""The issuer's HTTP face: the signed /v1 API, the consent page, the admin and test controls,
request ids, JSON errors and response signing."""
