"""paylater_sdk._sessions: the environment read once per host, ``.netrc`` never applied."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from paylater_sdk import _sessions
from paylater_sdk._sessions import EnvironmentSession
from tests._support.http_environment import netrc_for, recording_server


def test_a_netrc_entry_never_replaces_the_authorization_header(
    http_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc_for("127.0.0.1", tmp_path, http_env)
    signed = {"Authorization": 'PAYLATER-ED25519 signature="abc"'}
    with recording_server() as server:
        requests.Session().get(server.url + "/plain", headers=signed, timeout=5)
        EnvironmentSession().get(server.url + "/ours", headers=signed, timeout=5)
    (_, _, plain), (_, _, ours) = server.requests
    assert plain["Authorization"].startswith("Basic ")  # what requests alone would send
    assert ours["Authorization"] == signed["Authorization"]


def test_the_proxy_the_environment_names_carries_the_request(http_env: pytest.MonkeyPatch) -> None:
    with recording_server(status=502) as proxy:
        http_env.setenv("HTTP_PROXY", proxy.url)
        answer = EnvironmentSession().get("http://issuer.invalid/v1/checkouts", timeout=5)
    assert answer.status_code == 502
    [(method, target, _)] = proxy.requests
    assert (method, target) == ("GET", "http://issuer.invalid/v1/checkouts")


def test_no_proxy_sends_a_host_direct(http_env: pytest.MonkeyPatch) -> None:
    http_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nobody listens: a proxied call fails
    http_env.setenv("NO_PROXY", "127.0.0.1")
    with recording_server() as server:
        answer = EnvironmentSession().get(server.url + "/direct", timeout=5)
    assert answer.status_code == 200
    assert [target for _, target, _ in server.requests] == ["/direct"]


def test_a_proxy_given_to_the_request_wins(http_env: pytest.MonkeyPatch) -> None:
    http_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    session = EnvironmentSession()
    with recording_server(status=503) as proxy:
        named = session.get("http://issuer.invalid/x", proxies={"http": proxy.url}, timeout=5)
        placed = session.request(
            "GET", "http://issuer.invalid/y", None, None, None, None, None, None, 5, True,
            {"http": proxy.url},
        )  # fmt: skip
    assert (named.status_code, placed.status_code) == (503, 503)
    assert [t for _, t, _ in proxy.requests] == [
        "http://issuer.invalid/x",
        "http://issuer.invalid/y",
    ]
    assert session.environment_proxies("http://issuer.invalid/") == {"http": "http://127.0.0.1:9"}


def test_the_environment_is_read_once_per_scheme_and_host(
    http_env: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    real = _sessions.get_environ_proxies

    def counting(url: str, no_proxy: str | None = None) -> dict[str, str]:
        asked.append(url)
        return real(url, no_proxy)

    http_env.setattr(_sessions, "get_environ_proxies", counting)
    http_env.setattr(requests.sessions, "get_environ_proxies", counting)  # requests' own reading
    session = EnvironmentSession()
    with recording_server() as first, recording_server() as second:
        statuses = [session.get(f"{first.url}/{n}", timeout=5).status_code for n in range(3)]
        statuses.append(session.get(second.url + "/other", timeout=5).status_code)
    assert statuses == [200, 200, 200, 200]
    assert asked == [first.url + "/0", second.url + "/other"]
    assert len(first.requests) == 3


def test_the_ca_bundle_is_read_when_the_session_is_made(http_env: pytest.MonkeyPatch) -> None:
    assert EnvironmentSession().verify is True
    http_env.setenv("CURL_CA_BUNDLE", "/etc/ssl/curl.pem")
    assert EnvironmentSession().verify == "/etc/ssl/curl.pem"
    http_env.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/requests.pem")  # requests' own order
    assert EnvironmentSession().verify == "/etc/ssl/requests.pem"
