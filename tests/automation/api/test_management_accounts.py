"""The management API's accounts: a stranger cannot tell a real account from a missing one."""

import pytest

from tests.automation.api.helpers import assert_error
from tests.automation.api.management_support import (
    World,
    account_url,
    api_client,
    make_world,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(people) -> World:
    return make_world(people)


def test_a_stranger_gets_the_same_404_as_for_an_account_that_does_not_exist(world):
    import uuid

    client = api_client(world.people.stranger, "token")
    missing_id = uuid.uuid4()
    real = assert_error(client.get(account_url(world, "groups/")), 404)
    missing = assert_error(client.get(f"/api/v1/accounts/{missing_id}/groups/"), 404)
    # The same words, each naming the id it was asked about.
    assert real["detail"].replace(str(world.account.pk), "ID") == missing["detail"].replace(str(missing_id), "ID")
    assert {**real, "detail": ""} == {**missing, "detail": ""}
