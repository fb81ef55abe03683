"""The settings of the server processes a test starts: portal.settings, with the suite's password hasher."""

from portal.settings import *  # noqa: F403
from tests.support.passwords import FAST_PASSWORD_HASHERS

PASSWORD_HASHERS = FAST_PASSWORD_HASHERS
