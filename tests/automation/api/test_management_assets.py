"""Management API: what every kind of shared resource answers alike."""

import pytest

from tests.automation.api.assets_support import AssetWorld, make_asset_world
from tests.automation.api.helpers import assert_error
from tests.automation.api.runbooks_support import client_for
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

KINDS = {
    "variables": "variable",
    "credentials": "credential",
    "certificates": "certificate",
    "connection-types": "connection type",
    "connections": "connection",
}


@pytest.fixture
def world(people) -> AssetWorld:
    return make_asset_world(people)


@pytest.mark.parametrize(
    ("kind", "method"),
    # A connection type is not changed once made (Azure's neither): no PATCH.
    [(k, m) for k in KINDS for m in ("get", "patch", "delete") if (k, m) != ("connection-types", "patch")],
)
def test_an_unknown_name_is_404_naming_it(world, kind, method):
    owner = client_for(world.people.owner)
    before = state()

    error = assert_error(getattr(owner, method)(world.url(kind, "nope"), {}, format="json"), 404, "not_found")

    assert f"no {KINDS[kind]} named 'nope'" in error["detail"], error
    assert state() == before
