"""workers.client: the endpoint URL from the Keys blade."""

import pytest

from workers.client import parse_endpoint
from workers.errors import AgentError

ACCOUNT = "6f1c1a49-3b1e-4a55-a9ef-7f3d1f3f1c11"


@pytest.mark.parametrize(
    "url, expected",
    [
        (f"https://portal.example/agentsvc/accounts/{ACCOUNT}", f"https://portal.example/agentsvc/accounts/{ACCOUNT}"),
        (f"http://127.0.0.1:8000/agentsvc/accounts/{ACCOUNT}/", f"http://127.0.0.1:8000/agentsvc/accounts/{ACCOUNT}"),
        (
            f"https://h.example/sub/agentsvc/accounts/{ACCOUNT.upper()}",
            f"https://h.example/sub/agentsvc/accounts/{ACCOUNT.upper()}",
        ),
    ],
)
def test_an_endpoint_url_from_the_keys_blade_is_accepted(url, expected):
    endpoint = parse_endpoint(url)
    assert endpoint.url == expected
    assert endpoint.account_id == ACCOUNT


@pytest.mark.parametrize(
    "url",
    [
        "portal.example/agentsvc/accounts/" + ACCOUNT,
        "ftp://portal.example/agentsvc/accounts/" + ACCOUNT,
        "https://portal.example/agentsvc/",
        "https://portal.example/agentsvc/accounts/not-a-uuid-at-all-not-a-uuid-at-all1",
        f"https://portal.example/agentsvc/accounts/{ACCOUNT}?x=1",
    ],
)
def test_other_urls_are_refused_with_the_expected_shape(url):
    with pytest.raises(AgentError, match="Expected http\\(s\\)://HOST/agentsvc/accounts/<account id>"):
        parse_endpoint(url)
