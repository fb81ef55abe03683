"""Fixtures for the agent and management API tests."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The failed-authentication counters live in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def keys(people):
    """The plain access keys of both accounts: {"a": {"primary", "secondary"}, "b": {...}}."""
    from automation.services.actor import Actor
    from automation.services.keys import reveal_keys

    system = Actor.for_system()
    return {
        "a": reveal_keys(account=people.account, actor=system),
        "b": reveal_keys(account=people.other_account, actor=system),
    }


@pytest.fixture
def agent():
    """An in-process client speaking to the agent API from one address."""
    from rest_framework.test import APIClient

    return APIClient(REMOTE_ADDR="198.51.100.10")
