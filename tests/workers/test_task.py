"""workers.task: the service offers its tasks all that ServiceHandle names, and the tasks fit Task."""

import logging

from workers.heartbeat import HeartbeatTask
from workers.jobs import JobSettings, JobsTask
from workers.logs import Redactor
from workers.service import Service
from workers.state import StateDir
from workers.task import ServiceHandle, Task


def members(protocol: type) -> set[str]:
    defined = {name for name, value in vars(protocol).items() if callable(value) or isinstance(value, property)}
    return {name for name in set(protocol.__annotations__) | defined if not name.startswith("_")}


def test_the_service_has_every_member_its_tasks_may_use(tmp_path):
    service = Service(
        state=StateDir(tmp_path),
        registration=None,
        credential="",
        client=None,
        log=logging.getLogger("test.task"),
        redact=Redactor(),
        tasks=[],
    )

    assert members(ServiceHandle) == {
        "state",
        "registration",
        "credential",
        "client",
        "log",
        "capacity",
        "heartbeat_accepted",
        "held",
        "stopping",
        "wait",
        "stop",
        "reload_registration",
    }
    assert [name for name in sorted(members(ServiceHandle)) if not hasattr(service, name)] == []


def test_the_heartbeat_and_the_jobs_are_tasks():
    for task in (HeartbeatTask(), JobsTask(JobSettings(capacity=1, python="python3"))):
        assert [name for name in sorted(members(Task)) if not hasattr(task, name)] == []
