"""Issuer profiles: the names that differ between gateways speaking one construction."""

from __future__ import annotations

import re
from typing import Final

import attrs

from ..errors import ConfigurationError, InvalidSignatureError
from ._algorithms import ED25519, RSA_SHA256, Algorithm


@attrs.frozen
class IssuerProfile:
    """Names that differ between gateways speaking the same construction.

    ``schemes`` pairs each allowed scheme name (``PAYLATER-ED25519``) with its algorithm;
    the order is the order of preference. It doubles as the verifier's default allow-list.
    """

    name: str
    header_prefix: str = "Paylater"
    schemes: tuple[tuple[str, Algorithm], ...] = ()
    #: Serials starting with this name a bare public key (WeChat's ``PUB_KEY_ID_``); others
    #: a certificate or a key-derived serial. None: the profile has no public-key mode.
    public_key_id_prefix: str | None = attrs.field(default=None, kw_only=True)
    _by_scheme: dict[str, Algorithm] = attrs.field(init=False, eq=False, repr=False)
    _by_algorithm: dict[int, str] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.schemes:
            raise ConfigurationError("an IssuerProfile needs at least one (scheme, algorithm)")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", self.header_prefix):
            raise ConfigurationError(f"bad header prefix {self.header_prefix!r}")
        for scheme, _ in self.schemes:
            if not re.fullmatch(r"[A-Z0-9][A-Z0-9-]*", scheme):
                raise ConfigurationError(f"bad scheme name {scheme!r}: use A-Z, 0-9 and '-'")
        object.__setattr__(self, "_by_scheme", dict(self.schemes))
        object.__setattr__(self, "_by_algorithm", {id(a): s for s, a in reversed(self.schemes)})

    @property
    def algorithms(self) -> tuple[Algorithm, ...]:
        """The algorithms this profile accepts, in the order of its schemes."""
        return tuple(a for _, a in self.schemes)

    def scheme_for(self, algorithm: Algorithm) -> str:
        """The scheme name this profile uses for ``algorithm``."""
        try:
            return self._by_algorithm[id(algorithm)]
        except KeyError:
            raise ConfigurationError(
                f"profile {self.name!r} has no scheme for {algorithm.name}; it allows "
                f"{[s for s, _ in self.schemes]}"
            ) from None

    def algorithm_for(self, scheme: str) -> Algorithm:
        """The algorithm of a scheme name received on the wire; unknown -> rejected."""
        try:
            return self._by_scheme[scheme]
        except KeyError:
            raise InvalidSignatureError(
                f"unknown signature scheme {scheme[:40]!r}; profile {self.name!r} accepts "
                f"{[s for s, _ in self.schemes]}"
            ) from None

    def key_mode(self, serial: str) -> str:
        """``"public_key"`` for a public key id (``PUB_KEY_ID_...`` under WeChat Pay v3),
        else ``"certificate"``: which of the gateway's two key modes a serial belongs to."""
        prefix = self.public_key_id_prefix
        if prefix is not None and isinstance(serial, str) and serial.startswith(prefix):
            return "public_key"
        return "certificate"

    def header(self, suffix: str) -> str:
        """``header("Timestamp")`` -> ``"Paylater-Timestamp"``."""
        return f"{self.header_prefix}-{suffix}"


#: This SDK's own names: ``PAYLATER-ED25519`` / ``PAYLATER-SHA256-RSA2048``, ``Paylater-*``.
DEFAULT_PROFILE: Final = IssuerProfile(
    name="paylater",
    header_prefix="Paylater",
    schemes=(("PAYLATER-ED25519", ED25519), ("PAYLATER-SHA256-RSA2048", RSA_SHA256)),
)
#: A WeChat Pay API v3 gateway: ``WECHATPAY2-SHA256-RSA2048`` and ``Wechatpay-*`` headers.
WECHATPAY_V3: Final = IssuerProfile(
    name="wechatpay-v3",
    header_prefix="Wechatpay",
    schemes=(("WECHATPAY2-SHA256-RSA2048", RSA_SHA256),),
    public_key_id_prefix="PUB_KEY_ID_",
)
