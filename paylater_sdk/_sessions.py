"""A ``requests.Session`` that reads the environment once per host, not on every request.

A plain session (``trust_env``, requests' default) reads the environment again for every
request it sends: the proxy variables (``get_environ_proxies`` walks all of ``os.environ``
and the ``no_proxy`` list), the CA bundle variables and ``~/.netrc``. Measured on the
merchant client's signed ``GET``, that walk was a sixth of the client's CPU per call
(docs/performance.md). And the ``.netrc`` part is wrong for this library: requests applies
a ``.netrc`` entry for the host as HTTP Basic auth, which *replaces* the request's own
``Authorization`` header, so a merchant whose ``~/.netrc`` names the issuer's host sent a
password instead of its signature (and the issuer's notifications would have carried
credentials their receivers never asked for).

:class:`EnvironmentSession` keeps what the environment means and drops the rest: the
proxies for a host are requests' own answer (``get_environ_proxies``, ``no_proxy``
included), asked once per scheme and host and kept; ``REQUESTS_CA_BUNDLE`` (or
``CURL_CA_BUNDLE``) is read when the session is made; ``.netrc`` is never read. Like
httpx, which reads the environment when its client is made, a variable changed after the
first request to a host is not seen by that session. A proxy given to a request, or set
on the session's ``proxies``, still wins, as in requests.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.utils import get_environ_proxies

#: Where ``proxies`` falls among ``Session.request``'s positional parameters after the URL
#: (params, data, headers, cookies, files, auth, timeout, allow_redirects, proxies).
_PROXIES_POSITION = 8


class EnvironmentSession(requests.Session):
    """A ``requests.Session`` whose environment (proxies, CA bundle) is read once."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False  # requests' per-request reading, .netrc included: off
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self.verify = bundle
        self._proxies_by_host: dict[tuple[str, str], dict[str, str]] = {}
        self._proxies_lock = threading.Lock()

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        # ``proxies`` is requests' ninth parameter after the URL; given either way, it wins.
        if len(args) < _PROXIES_POSITION and kwargs.get("proxies") is None:
            kwargs["proxies"] = self.environment_proxies(str(url))
        return super().request(method, url, *args, **kwargs)

    def environment_proxies(self, url: str) -> dict[str, str]:
        """The proxies the environment names for ``url``'s scheme and host ({} for none,
        or when ``no_proxy`` covers the host), as requests would have read them."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        found = self._proxies_by_host.get(key)
        if found is None:
            with self._proxies_lock:
                found = self._proxies_by_host.get(key)
                if found is None:
                    found = dict(get_environ_proxies(url))
                    self._proxies_by_host[key] = found
        return dict(found)  # a copy: what requests does with it never reaches the cache
