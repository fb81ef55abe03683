"""workers.job.payload: a job as the server hands it out, read defensively (its Run as user here)."""

import uuid

import pytest

from workers.job.payload import JobPayload


def payload(**changes) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "lease": str(uuid.uuid4()),
        "runbook": "who",
        "version": 1,
        "runbook_type": "bash",
        "content": "id -un\n",
        "sha256": "0" * 64,
        "parameters": {},
        "declared": [],
        "timeout_seconds": None,
        "attempt": 1,
        **changes,
    }


def test_a_job_carries_its_groups_run_as_user_or_none():
    assert JobPayload.parse(payload(run_as="deploy")).run_as == "deploy"
    assert JobPayload.parse(payload(run_as=None)).run_as is None
    assert JobPayload.parse(payload()).run_as is None, "a server from before Run as: the agent's default"


@pytest.mark.parametrize("value", ["", 5, True, ["deploy"], {"name": "deploy"}])
def test_a_run_as_that_is_no_name_fails_the_job_instead_of_running_it_as_the_default_user(value):
    job = JobPayload.parse(payload(run_as=value))
    assert job.problem == "the job's Run as user is not a name"
    assert job.run_as is None
