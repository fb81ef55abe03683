"""Behind TLS (README, "Behind TLS"): the settings come from the environment, are off for `make run` on
plain http://localhost, and once set, a request that a trusted proxy says came over HTTPS is treated as
secure (HSTS, secure cookies, CSRF by origin), while no one else can say so."""

import json
import os
import re
import subprocess
import sys

import httpx
import pytest
from django.test import Client

from tests.support.daphne import start_daphne_at
from tests.support.processes import BASE_DIR

TLS_ENV = {
    "TRUSTED_PROXIES": "127.0.0.1/32, 10.0.0.0/8",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "SECURE_COOKIES": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "CSRF_TRUSTED_ORIGINS": "https://portal.example",
    "ALLOWED_HOSTS": "portal.example,127.0.0.1",
    "PORTAL_BASE_URL": "https://portal.example",
}
NAMES = [
    "TRUSTED_PROXIES",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "CSRF_TRUSTED_ORIGINS",
]
PASSWORD = "correct horse battery"


def settings_with(tmp_path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """portal.settings loaded in a fresh interpreter with only `env` set beside the basics."""
    script = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {NAMES!r}}}))"
    )
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH", "LANG")}
    full = {**base, "DJANGO_SETTINGS_MODULE": "portal.settings", "VAR_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=full, capture_output=True, text=True, timeout=120
    )


def loaded(tmp_path, env: dict[str, str]) -> dict:
    result = settings_with(tmp_path, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_by_default_nothing_assumes_https(tmp_path):
    assert loaded(tmp_path, {}) == {
        "TRUSTED_PROXIES": [],
        "SECURE_PROXY_SSL_HEADER": None,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "CSRF_TRUSTED_ORIGINS": [],
    }


def test_every_tls_setting_comes_from_the_environment(tmp_path):
    assert loaded(tmp_path, TLS_ENV) == {
        "TRUSTED_PROXIES": ["127.0.0.1/32", "10.0.0.0/8"],
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "CSRF_TRUSTED_ORIGINS": ["https://portal.example"],
    }


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TRUSTED_PROXIES": "10.0.0.0/8,proxy.example"}, "TRUSTED_PROXIES"),
        ({"TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES"),
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "SECURE_PROXY_SSL_HEADER needs TRUSTED_PROXIES"),
        ({"SECURE_HSTS_SECONDS": "a year"}, "SECURE_HSTS_SECONDS"),
        ({"SECURE_HSTS_PRELOAD": "maybe"}, "SECURE_HSTS_PRELOAD"),
    ],
)
def test_a_malformed_or_unsafe_setting_stops_the_process_naming_it(tmp_path, env, named):
    result = settings_with(tmp_path, env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and named in result.stderr, result.stderr


# ---- through a real daphne, as the proxy on this machine would reach it ----------------------------


@pytest.fixture
def tls_portal(server_env, log_dir, transactional_db, make_user):
    make_user("olivia")
    process, url = start_daphne_at({**server_env, **TLS_ENV}, log_dir)
    yield url
    process.stop()


def set_cookies(response) -> dict[str, str]:
    """name -> the whole Set-Cookie line."""
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


def test_a_request_the_trusted_proxy_marks_https_is_secure_and_signs_in(tls_portal):
    proxied = {"Host": "portal.example", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    with httpx.Client(base_url=tls_portal, timeout=60) as http:
        page = http.get("/login/", headers=proxied)
        assert page.status_code == 200
        assert page.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
        csrf_cookie = set_cookies(page)["csrftoken"]
        assert re.search(r";\s*Secure", csrf_cookie, re.I), csrf_cookie
        csrf = re.search(r"csrftoken=([^;]+)", csrf_cookie).group(1)
        form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

        # Over HTTPS Django checks the Origin against the host and CSRF_TRUSTED_ORIGINS.
        signed_in = http.post(
            "/login/",
            headers={**proxied, "Origin": "https://portal.example", "Cookie": f"csrftoken={csrf}"},
            data={"username": "olivia", "password": PASSWORD, "csrfmiddlewaretoken": form_token},
        )
        assert signed_in.status_code == 302, signed_in.text
        session_cookie = set_cookies(signed_in)["sessionid"]
        assert re.search(r";\s*Secure", session_cookie, re.I), session_cookie

        # The same request without the proxy's word is plain HTTP: no HSTS.
        plain = http.get("/login/", headers={"Host": "portal.example"})
        assert plain.status_code == 200
        assert "strict-transport-security" not in plain.headers


@pytest.mark.sqlite
@pytest.mark.django_db
def test_an_untrusted_peer_cannot_claim_https(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600

    claimed = Client(REMOTE_ADDR="198.51.100.1").get("/login/", headers={"X-Forwarded-Proto": "https"})
    proxied = Client(REMOTE_ADDR="10.0.0.5").get("/login/", headers={"X-Forwarded-Proto": "https"})

    assert claimed.status_code == proxied.status_code == 200
    assert "Strict-Transport-Security" not in claimed.headers
    assert proxied.headers["Strict-Transport-Security"] == "max-age=3600"
