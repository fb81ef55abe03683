"""The suite's one password hasher.

Django's default (PBKDF2, a million rounds) takes about half a second per password on a busy
two-core machine, and most tests create four users: a fast hasher saves minutes per run. The
server processes a test starts use it too (tests.support.server_settings), so that a browser can
sign in with a password this process stored.
"""

FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
