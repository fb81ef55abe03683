"""The Shared resources blades in view tests: who gets what, and whether any page gives a secret away."""

import re

from django.urls import reverse

from tests.support.htmx import HTMX
from tests.support.state import state

ROLES = ("owner", "operator", "reader", "stranger")
# A sealed value as the sealing writes it ("v1." and the base64 of nonce and ciphertext).
SEALED = re.compile(r"v1\.[A-Za-z0-9_-]{16,}")


def url(route: str, account, *ids) -> str:
    return reverse(f"portal:{route}", args=[account.pk, *ids])


def pages(client, urls) -> str:
    """Every page and dialog at `urls` as a browser with and without JavaScript gets it (a list's live part, a
    dialog's fragment), as one text; each must answer 200."""
    seen = []
    for address in urls:
        for headers in ({}, HTMX):
            response = client.get(address, headers=headers)
            assert response.status_code == 200, (address, headers, response.status_code)
            seen.append(response.content.decode())
    return "\n".join(seen)


def assert_secret_free(text: str, secrets) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret is on a page: {secret[:4]}…"
    assert not SEALED.search(text), "a sealed value is on a page"


def answers_by_role(people, client_for, requests, expected) -> None:
    """Each role sends each (method, url, data) of `requests`: the status codes are `expected[(role, i)]`'s, and
    a refused request (403, 404) writes nothing and says nothing of the account to a stranger."""
    for role in ROLES:
        client = client_for(people.by_role[role])
        for i, (method, address, data) in enumerate(requests):
            before = state()
            # A callable makes the data afresh for each request (an uploaded file is read by the first).
            response = getattr(client, method)(address, (data() if callable(data) else data) or {})
            want = expected[role][i]
            assert response.status_code == want, (role, method, address, response.status_code)
            if want in (403, 404):
                assert state() == before, (role, method, address)
            if want == 404:
                assert people.account.name.encode() not in response.content
