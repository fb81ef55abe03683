"""Every answer carries a strict Content-Security-Policy: pages, fragments, the APIs' JSON, errors.

The portal loads nothing from other origins and runs no inline script, so an injected `<script>` or
event handler would not run. tests/e2e/test_content_security_policy.py shows that no page breaks a rule.
"""

import pytest
from django.urls import reverse

from tests.support.htmx import HTMX

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

HEADER = "Content-Security-Policy"


def directives(value: str) -> dict[str, list[str]]:
    result = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            assert words[0] not in result, f"{words[0]} twice in {value!r}"
            result[words[0]] = words[1:]
    return result


def assert_strict(response, *, host: str = "testserver") -> dict[str, list[str]]:
    assert HEADER in response, f"{response.request['PATH_INFO']} ({response.status_code}) has no {HEADER}"
    policy = directives(response[HEADER])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no other origin
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    # The live socket: 'self' covers ws: and wss: only in CSP3 browsers, so the page's own host is named.
    assert policy["connect-src"] == ["'self'", f"ws://{host}"]
    for sources in policy.values():
        assert "*" not in sources
        assert not any(source.startswith(("http:", "https:")) or source == "blob:" for source in sources)
    return policy


def test_every_kind_of_answer_carries_the_policy(people, client_for, client):
    owner = client_for(people.owner)
    account = people.account.pk
    answers = [
        client.get(reverse("login")),
        owner.get(reverse("portal:home")),
        owner.get(reverse("portal:overview", args=[account])),
        owner.get(reverse("portal:runbooks", args=[account])),
        owner.get(reverse("portal:notifications"), headers=HTMX),  # an htmx fragment
        owner.get(reverse("portal:jobs", args=[account]) + "nope/"),  # a 404 page
        owner.get("/api/v1/accounts/"),  # the management API's JSON
        client.get("/api/v1/accounts/"),  # its 401/403
        client.post("/agentsvc/accounts/x/v1/nothing", data="{}", content_type="application/json"),  # the agent API's
        client.get("/healthz"),
        client.get(reverse("api-docs")),
        client_for(people.owner).get(reverse("admin:login")),
    ]
    assert [a.status_code for a in answers][:5] == [200, 200, 200, 200, 200]
    for answer in answers:
        assert_strict(answer)


def test_the_live_socket_of_a_page_behind_tls_is_named_with_wss(people, client_for, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]  # the test client's address: the proxy
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["portal.example"]
    answer = client_for(people.owner).get(
        reverse("portal:home"), HTTP_HOST="portal.example", HTTP_X_FORWARDED_PROTO="https"
    )
    assert answer.status_code == 200
    assert directives(answer[HEADER])["connect-src"] == ["'self'", "wss://portal.example"]


def test_no_template_holds_an_inline_script_or_event_handler():
    """The policy would stop them in the browser; this names the template that has one."""
    import re
    from pathlib import Path

    from django.conf import settings

    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|\bhx-on|javascript:", re.IGNORECASE)
    found = []
    for template in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        for number, line in enumerate(template.read_text().splitlines(), 1):
            if inline.search(line):
                found.append(f"{template.relative_to(settings.BASE_DIR)}:{number}: {line.strip()}")
    assert found == []
