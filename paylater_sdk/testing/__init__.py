"""Testing kit: the real mock issuer in-process, routed through ``responses``."""
