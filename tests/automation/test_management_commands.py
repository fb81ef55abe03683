"""`manage.py createaccount` and `manage.py ensuredemo`."""

import io
import json
import os
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from automation.models import AuditEvent, AutomationAccount, Membership, Role
from automation.services.accounts import add_member, remove_member
from automation.services.actor import Actor
from automation.validators import NAME_RULE

pytestmark = pytest.mark.django_db

User = get_user_model()


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def nothing_written():
    return (
        not AutomationAccount.objects.exists() and not Membership.objects.exists() and not AuditEvent.objects.exists()
    )


# ---- createaccount ---------------------------------------------------------------------


@pytest.mark.sqlite
def test_createaccount_creates_the_account_with_its_owner_and_says_so(make_user):
    make_user("olivia")

    output = run("createaccount", "contoso-automation", "--owner", "olivia")

    account = AutomationAccount.objects.get()
    assert output.strip() == f"Created Automation account contoso-automation ({account.pk}) owned by olivia."
    assert list(account.memberships.values_list("user__username", "role")) == [("olivia", Role.OWNER)]
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_name, event.account) == ("account.create", "system", account)


def test_createaccount_takes_a_region(make_user):
    make_user("olivia")

    run("createaccount", "contoso", "--owner", "olivia", "--region", "West Lab")

    assert AutomationAccount.objects.get().region == "West Lab"


@pytest.mark.sqlite
def test_createaccount_refuses_an_unknown_owner_and_writes_nothing(db):
    with pytest.raises(CommandError, match="no active user named 'nobody'"):
        run("createaccount", "contoso", "--owner", "nobody")

    assert nothing_written()


def test_createaccount_refuses_an_inactive_owner(make_user):
    user = make_user("olivia")
    user.is_active = False
    user.save()

    with pytest.raises(CommandError, match="no active user"):
        run("createaccount", "contoso", "--owner", "olivia")

    assert nothing_written()


@pytest.mark.sqlite
@pytest.mark.parametrize("name", [" contoso", "x" * 129, "café", "bad\x01name", ""])
def test_createaccount_refuses_a_bad_name_and_writes_nothing(make_user, name):
    make_user("olivia")

    with pytest.raises(CommandError) as refused:
        run("createaccount", name, "--owner", "olivia")

    assert str(refused.value) == NAME_RULE
    assert nothing_written()


def test_createaccount_refuses_a_name_that_is_taken(make_user):
    make_user("olivia")
    run("createaccount", "contoso", "--owner", "olivia")

    with pytest.raises(CommandError, match="already exists"):
        run("createaccount", "contoso", "--owner", "olivia")

    assert AutomationAccount.objects.count() == 1
    assert Membership.objects.count() == 1


def test_createaccount_needs_an_owner(db):
    with pytest.raises(CommandError, match="--owner"):
        run("createaccount", "contoso")

    assert nothing_written()


# ---- ensuredemo ------------------------------------------------------------------------


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


def password_file(var_dir):
    return var_dir / "secrets" / "admin_password"


def ensuredemo() -> dict:
    return json.loads(run("ensuredemo"))


@pytest.mark.sqlite
def test_ensuredemo_creates_the_demo_account_and_an_admin_and_prints_the_login(var_dir):
    login = ensuredemo()

    assert login["username"] == "admin"
    assert isinstance(login["password"], str)
    assert len(login["password"]) >= 12
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password(login["password"])
    account = AutomationAccount.objects.get()
    assert account.name == "demo-automation"
    assert login["account_id"] == str(account.pk)
    assert list(account.memberships.values_list("user__username", "role")) == [("admin", Role.OWNER)]


@pytest.mark.sqlite
def test_ensuredemo_is_idempotent(var_dir):
    first = ensuredemo()
    second = ensuredemo()

    assert second == first
    assert AutomationAccount.objects.count() == 1
    assert User.objects.filter(username="admin").count() == 1
    assert Membership.objects.count() == 1
    assert AuditEvent.objects.filter(action="account.create").count() == 1


@pytest.mark.sqlite
def test_ensuredemo_keeps_the_password_in_a_file_only_its_owner_can_read(var_dir):
    login = ensuredemo()

    path = password_file(var_dir)
    assert path.read_text() == login["password"] + "\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_ensuredemo_prints_a_null_password_once_the_admin_changed_it(var_dir):
    ensuredemo()
    admin = User.objects.get(username="admin")
    admin.set_password("my own choice 42")
    admin.save()

    login = ensuredemo()

    assert login["password"] is None
    assert login["username"] == "admin"
    assert AutomationAccount.objects.count() == 1
    assert User.objects.get(username="admin").check_password("my own choice 42")


def test_ensuredemo_prints_a_null_password_for_an_admin_it_did_not_create(var_dir):
    User.objects.create_superuser("admin", email="", password="chosen by a person")

    login = ensuredemo()

    assert login["password"] is None
    assert not password_file(var_dir).exists()
    account = AutomationAccount.objects.get(name="demo-automation")
    assert account.memberships.get().user.username == "admin"
    assert User.objects.get(username="admin").check_password("chosen by a person")


def test_ensuredemo_reuses_a_password_already_kept_in_var(var_dir):
    path = password_file(var_dir)
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text("kept-from-an-earlier-run\n")

    login = ensuredemo()

    assert login["password"] == "kept-from-an-earlier-run"
    assert User.objects.get(username="admin").check_password("kept-from-an-earlier-run")


def test_ensuredemo_keeps_a_new_password_when_the_password_file_is_empty(var_dir):
    """An empty file (say, a run that stopped between creating and writing it) must not lose the password."""
    path = password_file(var_dir)
    path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)

    first = ensuredemo()
    second = ensuredemo()

    assert first["password"]
    assert path.read_text().strip() == first["password"]
    assert second["password"] == first["password"]


def test_ensuredemo_makes_the_admin_an_owner_again_when_they_were_removed(var_dir, make_user):
    first = ensuredemo()
    account = AutomationAccount.objects.get()
    make_user("olivia")
    add_member(account=account, username="olivia", role=Role.OWNER, actor=Actor.for_system())
    remove_member(
        account=account, membership_id=account.memberships.get(user__username="admin").pk, actor=Actor.for_system()
    )

    second = ensuredemo()

    assert second == first
    roles = dict(account.memberships.values_list("user__username", "role"))
    assert roles == {"admin": Role.OWNER, "olivia": Role.OWNER}
