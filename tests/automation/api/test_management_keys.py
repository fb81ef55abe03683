"""The management API's access keys: regenerated one at a time."""

import pytest

from tests.automation.api.helpers import assert_error, call, register_body
from tests.automation.api.management_support import (
    World,
    account_url,
    api_client,
    make_world,
)
from tests.support.state import state

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(people) -> World:
    return make_world(people)


def test_regenerating_a_key_returns_it_once_and_leaves_the_other_working(world, keys, agent):
    client = api_client(world.people.owner, "token")
    response = client.post(account_url(world, "keys/primary/regenerate/"))
    assert response.status_code == 200
    new = response.json()
    assert set(new) == {"slot", "key"} and new["slot"] == "primary"
    assert new["key"] != keys["a"]["primary"]
    fresh = register_body(group="ci", machine_id="machine-0010")
    assert_error(call(agent, world.account.pk, "register", fresh, token=keys["a"]["primary"]), 401)
    assert call(agent, world.account.pk, "register", fresh, token=new["key"]).status_code == 201
    deregister = call(
        agent, world.account.pk, "deregister", {"machine_id": "machine-0001"}, token=keys["a"]["secondary"]
    )
    assert deregister.status_code == 200


def test_regenerating_an_unknown_slot_is_400(world):
    client = api_client(world.people.owner, "token")
    before = state()
    response = client.post(account_url(world, "keys/tertiary/regenerate/"))
    body = assert_error(response, 400, "invalid")
    assert body["field"] == "slot"
    assert state() == before
