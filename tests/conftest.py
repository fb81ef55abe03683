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
from tests.support.people import SHARED, SharedPeoplePlugin, can_share, create_user, make_people
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
    tests after the others) would undo it. Every process sorts alike (xdist checks that they collected alike).
    Within each kind, the tests that can share the `people` rows come together (tests.support.people)."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        items.sort(key=lambda item: (_slowness(item), not can_share(item)))


class PeopleTogether:
    """Without xdist, pytest-django's order stays (no database, then TestCase-like, then transactional tests);
    within it, the tests that can share the `people` rows come together."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        items.sort(key=lambda item: not can_share(item))


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        config.pluginmanager.register(LongestFirst(), "longest-first")
    else:
        config.pluginmanager.register(PeopleTogether(), "people-together")
    config.pluginmanager.register(SharedPeoplePlugin(), "shared-people")


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
    return create_user


@pytest.fixture(scope="session")
def _shared_people_rolled_back_last(django_db_setup):
    """Torn down before the test database it depends on: the shared transaction must end first."""
    yield
    SHARED.close()


@pytest.fixture
def people(request, make_user, _shared_people_rolled_back_last):
    """An account with an Owner, an Operator and a Reader, and a stranger with an account of their own
    (tests.support.people: made once for consecutive tests that use them)."""
    if SHARED.serving is request.node:
        return SHARED.people()
    return make_people(make_user)


@pytest.fixture
def client_for(client):
    """`client_for(user)`: a Django test client signed in as that user.

    The session force_login would make, written directly: force_login also sends user_logged_in (last_login,
    django-axes' access log, its failure counter reset) and cycles the session key, half of a client's cost,
    and no test reads those (the sign-in tests sign in through the form)."""
    from importlib import import_module

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.test import Client

    def make(user):
        c = Client()
        session = import_module(settings.SESSION_ENGINE).SessionStore()
        session[SESSION_KEY] = user._meta.pk.value_to_string(user)
        session[BACKEND_SESSION_KEY] = c._get_backend()
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        name = settings.SESSION_COOKIE_NAME
        c.cookies[name] = session.session_key
        c.cookies[name].update(
            {"path": "/", "domain": settings.SESSION_COOKIE_DOMAIN, "secure": settings.SESSION_COOKIE_SECURE or None}
        )
        return c

    return make
