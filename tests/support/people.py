"""The `people` rows, made once for a run of tests that each use them.

Making them (four users, two accounts with keys, connection types, memberships, audit events and
notifications) cost ~37 ms of CPU per test, and ~5,000 tests use them. So they are made once inside an
outer transaction that stays open while consecutive tests use them: each of those tests runs in a
savepoint of it (Django's TestCase nests its atomic block), sees exactly the rows it saw when the fixture
made them, and its own writes are rolled back as before. The outer transaction is rolled back before any
other test (one without `people`, a transactional one, a unittest case, one whose module-scoped fixtures
write to the database), so that test sees what it saw before; nothing is ever committed, so there is
nothing to delete. The order (tests/conftest.py) keeps the tests that use `people` together.

Nothing the code under test does with the database depends on the transaction's start: it takes the
time from Python, never from the database's `now()`.
"""

import unittest
from dataclasses import dataclass, field

import pytest
from django.db import connection, transaction

NAMES = {"owner": "olivia", "operator": "oscar", "reader": "rita", "stranger": "sam"}
ACCOUNTS = ("contoso-automation", "fabrikam-automation")


class People:
    """What the `people` fixture gives a test."""

    def __init__(self, *, owner, operator, reader, stranger, account, other_account):
        self.account, self.other_account = account, other_account
        self.owner, self.operator, self.reader, self.stranger = owner, operator, reader, stranger
        self.by_role = {"owner": owner, "operator": operator, "reader": reader, "stranger": stranger}


def create_user(username: str, *, staff: bool = False, password: str = "correct horse battery"):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username=username, password=password, is_staff=staff, email=f"{username}@example.test"
    )


def make_people(make_user) -> People:
    """An account with an Owner, an Operator and a Reader, and a stranger with an account of their own."""
    from automation.models import Role
    from automation.services.accounts import add_member, create_account
    from automation.services.actor import Actor

    system = Actor.for_system()
    users = {role: make_user(name) for role, name in NAMES.items()}
    account = create_account(name=ACCOUNTS[0], owner=users["owner"], actor=system)
    add_member(account=account, username=NAMES["operator"], role=Role.OPERATOR, actor=system)
    add_member(account=account, username=NAMES["reader"], role=Role.READER, actor=system)
    other = create_account(name=ACCOUNTS[1], owner=users["stranger"], actor=system)
    return People(**users, account=account, other_account=other)


def load_people(user_ids: dict[str, int], account_ids: tuple) -> People:
    """Fresh instances of the shared rows: what a test changes in memory never reaches the next one."""
    from django.contrib.auth import get_user_model

    from automation.models import AutomationAccount

    users = get_user_model().objects.in_bulk(user_ids.values())
    accounts = AutomationAccount.objects.in_bulk(account_ids)
    return People(
        **{role: users[pk] for role, pk in user_ids.items()},
        account=accounts[account_ids[0]],
        other_account=accounts[account_ids[1]],
    )


def is_transactional(item) -> bool:
    """pytest-django's own rule for a test that runs outside a transaction (and flushes afterwards)."""
    marker = item.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return True
    return bool({"transactional_db", "live_server", "django_db_reset_sequences"} & set(item.fixturenames))


def _writes_beyond_the_test(item) -> bool:
    """A module- or session-scoped fixture that reaches the database commits what it makes (with the blocker
    lifted): set up inside the shared transaction, it would be rolled back with it."""
    for name in set(item.fixturenames) - {"_shared_people_rolled_back_last"}:
        for definition in item._fixtureinfo.name2fixturedefs.get(name, ()):
            if (
                definition.scope != "function"
                and not definition.func.__module__.startswith("pytest_django")
                and {"django_db_setup", "django_db_blocker"} & set(definition.argnames)
            ):
                return True
    return False


def can_share(item) -> bool:
    return (
        "people" in item.fixturenames
        and not issubclass(getattr(item, "cls", None) or object, unittest.TestCase)
        and not is_transactional(item)
        and not _writes_beyond_the_test(item)
    )


@dataclass
class SharedPeople:
    """The outer transaction and the ids of the rows made in it; `serving` is the test they are lent to."""

    blocker: object = None
    atomic: object = None
    user_ids: dict = field(default_factory=dict)
    account_ids: tuple = ()
    serving: object = None

    def open_for(self, item, blocker) -> None:
        """Called as the test's database fixture is set up, before its own transaction opens."""
        self.blocker = blocker
        if self.atomic is not None and not self._intact():
            self.close()
        if self.atomic is None:
            self._make()
        self.serving = item

    def _intact(self) -> bool:
        # After a test, its savepoint is gone and only this block is left, usable.
        return (
            connection.connection is not None
            and connection.in_atomic_block
            and len(connection.atomic_blocks) == 1
            and not connection.needs_rollback
            and not connection.closed_in_transaction
        )

    def _make(self) -> None:
        with self.blocker.unblock():
            self.atomic = transaction.atomic()
            self.atomic.__enter__()
            waiting = len(connection.run_on_commit)
            made = make_people(create_user)
            # Never run: the block is rolled back, as a test's own transaction always was.
            del connection.run_on_commit[waiting:]
        self.user_ids = {role: user.pk for role, user in made.by_role.items()}
        self.account_ids = (made.account.pk, made.other_account.pk)

    def close(self) -> None:
        """Roll the shared rows back (a no-op when there are none)."""
        self.serving = None
        if self.atomic is None:
            return
        atomic, self.atomic = self.atomic, None
        with self.blocker.unblock():
            try:
                transaction.set_rollback(True)
                atomic.__exit__(None, None, None)
            except Exception:
                # A connection a test broke: dropping it discards the transaction just as well.
                connection.close()
                connection.in_atomic_block = False
                connection.atomic_blocks.clear()
                connection.savepoint_ids.clear()
                connection.needs_rollback = connection.closed_in_transaction = False

    def people(self) -> People:
        return load_people(self.user_ids, self.account_ids)


SHARED = SharedPeople()


class SharedPeoplePlugin:
    """Roll back before a test that must not see the shared rows; open them as a test that may is set up."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item):
        if not can_share(item):
            SHARED.close()
        SHARED.serving = None
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        if fixturedef.argname == "_django_db_helper" and can_share(request.node):
            SHARED.open_for(request.node, request.getfixturevalue("django_db_blocker"))
        return (yield)
