"""workers.network: which proxy a request goes through, and how a proxy is named."""

import pytest

from workers.network import is_loopback, proxy_for, without_password


def test_the_proxy_comes_from_the_environment_with_no_proxy_and_lower_case_first():
    env = {"HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128", "HTTP_PROXY": "proxy:8080"}
    assert proxy_for("https://portal.example/x", env) == "http://lower:3128"
    assert proxy_for("http://portal.example/x", env) == "http://proxy:8080"
    assert proxy_for("https://portal.example/x", {**env, "NO_PROXY": ".example"}) is None
    assert proxy_for("https://portal.example/x", {**env, "no_proxy": "other.test,portal.example"}) is None
    assert proxy_for("https://portal.example/x", {"ALL_PROXY": "http://all:1"}) == "http://all:1"
    assert proxy_for("https://portal.example/x", {}) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "[::1]", "agent.localhost"])
def test_loopback_never_goes_through_a_proxy(host):
    assert is_loopback(host.strip("[]"))
    assert proxy_for(f"http://{host}:8000/x", {"HTTP_PROXY": "http://proxy:3128", "ALL_PROXY": "http://p:1"}) is None


def test_a_proxy_password_is_not_printed():
    assert without_password("http://ops:hunter22@proxy:3128") == "http://ops:***@proxy:3128"
    assert without_password("http://proxy:3128") == "http://proxy:3128"
