import pytest
from django.db import connection


@pytest.mark.sqlite
@pytest.mark.django_db
def test_the_suite_runs_on_the_database_it_was_asked_for():
    from tests.conftest import USE_SQLITE

    assert connection.vendor == ("sqlite" if USE_SQLITE else "postgresql")
