"""The agents' fixtures (real `hybridworker` processes against a real daphne) serve these tests too."""

from tests.workers.conftest import agent_env, keys, make_agent  # noqa: F401 - fixtures, found here by pytest
