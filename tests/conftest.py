"""Test servers and shared fixtures.

PostgreSQL and Redis are real servers started here for the run. TEST_DATABASE=sqlite runs the
tests marked `sqlite` against the embedded default (a SQLite file) instead.
"""

import os
import shutil
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings

from portal import embedded_redis
from tests.support.passwords import FAST_PASSWORD_HASHERS
from tests.support.postgres import start_postgres

USE_SQLITE = os.environ.get("TEST_DATABASE", "postgres") == "sqlite"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if USE_SQLITE:
        kept = [item for item in items if "sqlite" in item.keywords]
        config.hook.pytest_deselected(items=[item for item in items if "sqlite" not in item.keywords])
        items[:] = kept
    # Two benchmark-like loads at once would each take the other's share of the cores and stretch past their
    # deadlines; `--dist loadgroup` sends a group to one process, so these run one after another.
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(pytest.mark.xdist_group("heavy"))


class LongestFirst:
    """Under xdist, hand out the tests that start real processes first: one handed out last leaves the other
    processes idle while it runs. Last of the collection hooks, or pytest-django's own ordering (transactional
    tests after the others) would undo it. Every process sorts alike (xdist checks that they collected alike)."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        items.sort(key=_slowness)


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        config.pluginmanager.register(LongestFirst(), "longest-first")


def _slowness(item) -> int:
    if "heavy" in item.keywords:
        return 0
    if {"server_env", "browser"} & set(item.fixturenames):
        return 1
    database = item.get_closest_marker("django_db")
    if "transactional_db" in item.fixturenames or (database and database.kwargs.get("transaction")):
        return 2
    return 3


@pytest.fixture(scope="session")
def run_dir():
    path = Path(tempfile.mkdtemp(prefix="automation-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session", autouse=True)
def redis_url(run_dir):
    """A real Redis for the channel layer and the Celery broker."""
    socket_path = run_dir / "redis.sock"
    process = embedded_redis.start(socket_path, data_dir=run_dir / "redis")
    url = f"unix://{socket_path}"
    settings.REDIS_URL = url
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [url]
    settings.CELERY_BROKER_URL = f"redis+socket://{socket_path}"
    settings.CACHES["default"]["LOCATION"] = url  # in place: the cache handler holds this dict
    from django.core.cache import caches

    if hasattr(caches._connections, "default"):
        del caches._connections.default
    from channels.layers import channel_layers

    from portal.celery import app

    app.conf.broker_url = settings.CELERY_BROKER_URL
    channel_layers.backends.clear()
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    with override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS):
        yield


@pytest.fixture(scope="session", autouse=True)
def _static_files_listed_once():
    """WhiteNoise lists and stats every static file each time a middleware chain is built, and Django's test
    client builds one per client: ~60 ms each, a quarter of the suite's CPU. The files do not change during a
    run, so the first listing serves every later chain (a server process still lists them itself)."""
    from whitenoise.middleware import WhiteNoiseMiddleware

    list_files = WhiteNoiseMiddleware.add_files_from_finders
    listed: dict = {}

    def add_files_from_finders(self):
        if not listed:
            list_files(self)
            listed.update(self.files)
        else:
            self.files.update(listed)

    with mock.patch.object(WhiteNoiseMiddleware, "add_files_from_finders", add_files_from_finders):
        yield


@pytest.fixture(scope="session")
def postgres():
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request, run_dir):
    """Point the default database at the run's PostgreSQL (or a SQLite file) before the test DB exists."""
    db = settings.DATABASES["default"]
    if USE_SQLITE:
        new = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(run_dir / "portal.sqlite3"),
            "OPTIONS": db.get("OPTIONS", {}),
            "TEST": {"NAME": str(run_dir / "test-portal.sqlite3")},
        }
    else:
        server = request.getfixturevalue("postgres")
        new = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "automation",
            "USER": server.user,
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": str(server.port),
            "CONN_MAX_AGE": 0,
            "OPTIONS": {},
            "TEST": {"NAME": "test_automation"},
        }
    # Mutate in place: the connection handler holds this very dict.
    db.clear()
    db.update(new)
    connections.configure_settings(settings.DATABASES)
    if hasattr(connections._connections, "default"):
        connections["default"].close()
        del connections._connections.default


@pytest.fixture
def server_env(run_dir, redis_url, django_db_setup) -> dict[str, str]:
    """Environment for a real server process that shares this test's database, Redis and secrets."""
    db = connections["default"].settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_ALLOW"))}
    var_dir = run_dir / "var"
    var_dir.mkdir(exist_ok=True)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.support.server_settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": settings.SECRET_KEY,
            "ACCOUNT_KEY_ENCRYPTION_KEY": ",".join(settings.ACCOUNT_KEY_ENCRYPTION_KEYS),
            "VAR_DIR": str(var_dir),
        }
    )
    return env


@pytest.fixture
def log_dir(run_dir) -> Path:
    path = run_dir / "logs"
    path.mkdir(exist_ok=True)
    return path


# ---- People and accounts --------------------------------------------------------------


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    def make(username: str, *, staff: bool = False, password: str = "correct horse battery"):
        return get_user_model().objects.create_user(
            username=username, password=password, is_staff=staff, email=f"{username}@example.test"
        )

    return make


@pytest.fixture
def people(make_user):
    """An account with an Owner, an Operator and a Reader, and a stranger with an account of their own."""
    from automation.models import Role
    from automation.services.accounts import add_member, create_account
    from automation.services.actor import Actor

    system = Actor.for_system()
    owner = make_user("olivia")
    operator = make_user("oscar")
    reader = make_user("rita")
    stranger = make_user("sam")
    account = create_account(name="contoso-automation", owner=owner, actor=system)
    add_member(account=account, username="oscar", role=Role.OPERATOR, actor=system)
    add_member(account=account, username="rita", role=Role.READER, actor=system)
    other = create_account(name="fabrikam-automation", owner=stranger, actor=system)

    class People:
        pass

    p = People()
    p.account, p.other_account = account, other
    p.owner, p.operator, p.reader, p.stranger = owner, operator, reader, stranger
    p.by_role = {"owner": owner, "operator": operator, "reader": reader, "stranger": stranger}
    return p


@pytest.fixture
def client_for(client):
    """`client_for(user)`: a Django test client signed in as that user."""
    from django.test import Client

    def make(user):
        c = Client()
        c.force_login(user)
        return c

    return make
