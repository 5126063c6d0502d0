"""pytest plugin (entry point ``pytest11``): fixtures ``mock_issuer`` and ``paylater_client``."""
