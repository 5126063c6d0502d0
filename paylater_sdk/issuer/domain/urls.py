"""URL prefix matching for merchants' notify and return URLs.

A merchant registers prefixes such as ``https://shop.example/paylater/``; a URL is under a
prefix when its scheme, host and port are the same (default ports made explicit, host
compared case-insensitively) and its path continues the prefix's path at a segment
boundary. Plain ``str.startswith`` would let ``https://shop.example`` admit
``https://shop.example.attacker.tld`` and ``http://127.0.0.1:2008`` admit port 20081.

A bare scheme (``https://`` or ``http://``) is an explicit wildcard for any host with that
scheme; the testing kit registers its in-process merchant that way.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

__all__ = ["url_allowed", "url_under_prefix"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_WILDCARDS = ("http://", "https://")


def _origin_and_path(url: str) -> tuple[tuple[str, str, int], str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    path = parts.path or "/"
    if any(segment in (".", "..") for segment in unquote(path).split("/")):
        return None  # "/paylater/../admin" would leave the prefix once resolved
    return (scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]), path


def url_under_prefix(url: str, prefix: str) -> bool:
    """True when ``url`` is ``prefix`` itself or below it (see the module docstring)."""
    target = _origin_and_path(url)
    if prefix in _WILDCARDS:
        return target is not None and target[0][0] == prefix.removesuffix("://")
    base = _origin_and_path(prefix)
    if target is None or base is None or target[0] != base[0]:
        return False
    path, root = target[1], base[1]
    if path == root or (root.endswith("/") and path.startswith(root)):
        return True
    return path.startswith(root + "/")


def url_allowed(url: str, prefixes: object) -> bool:
    """True when ``url`` is under one of ``prefixes`` (a list of strings)."""
    if not isinstance(prefixes, list | tuple):
        return False
    return any(isinstance(p, str) and p and url_under_prefix(url, p) for p in prefixes)
