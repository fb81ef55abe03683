"""Child jobs (Start-AutomationRunbook): a running job starts a published runbook of its own account, checked as a
start from the portal is, on its own group unless told otherwise; the child records its parent, and the
Activity log says which job started it."""

import pytest

from automation.models import AuditEvent, Job, JobStatus
from automation.services import job_assets
from automation.services import jobs as job_services
from automation.services.errors import Conflict, InvalidInput, NotFound
from automation.services.groups import request_group_deletion
from tests.support.assets import SYSTEM
from tests.support.job_assets import JobAssetsWorld
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def world(people):
    return JobAssetsWorld(people)


def start_child(world, parent, *, worker="web-01", **fields):
    fields.setdefault("runbook", "child")
    fields.setdefault("parameters", {"who": "world"})
    return job_assets.start_child(worker=world.workers[worker], job_id=parent.pk, lease=str(parent.lease_id), **fields)


def test_a_child_is_queued_on_the_parents_group_with_its_parent_recorded(world):
    parent = world.running()

    child = start_child(world, parent)

    stored = Job.objects.get(pk=child.pk)
    label = f"job {str(parent.pk)[:8]} on worker web-01"
    assert (stored.status, stored.runbook_name, stored.group_name, stored.parent_id) == (
        JobStatus.QUEUED,
        "child",
        "lab",
        parent.pk,
    )
    assert (stored.version_number, stored.parameters, stored.is_test) == (1, {"who": "world"}, False)
    assert (stored.started_by_kind, stored.started_by) == ("parent", str(parent.pk))
    assert list(Job.objects.get(pk=parent.pk).children.values_list("pk", flat=True)) == [child.pk]
    event = AuditEvent.objects.get(action="job.start", target_id=str(child.pk))
    assert (event.actor_name, event.details) == (
        label,
        {"runbook": "child", "run_on": "lab", "version": 1, "parent_job": str(parent.pk)},
    )


def test_a_child_runs_where_it_is_told_to(world):
    child = start_child(world, world.held(), run_on="other")

    assert child.group_name == "other"
    (claimed,) = job_services.claim_jobs(worker=world.workers["db-01"], limit=1)
    assert claimed.pk == child.pk


def test_a_childs_secret_parameter_is_kept_as_any_secret_parameter(world):
    child = start_child(world, world.held(), parameters={"who": "x", "token": "Child-Token-7"})

    stored = Job.objects.get(pk=child.pk)
    assert stored.parameters == {"who": "x", "token": "******"}
    assert "Child-Token-7" not in repr(state(ignoring=()))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"runbook": "nothing"}, "runbook"),
        ({"runbook": "draft-only"}, "runbook"),
        ({"runbook": 7}, "runbook"),
        ({"runbook": "a/b"}, "runbook"),
        ({"parameters": {}}, "who"),
        ({"parameters": {"who": "x", "unknown": 1}}, "unknown"),
        ({"parameters": {"who": 5}}, "who"),
        ({"parameters": ["who"]}, "parameters"),
        ({"run_on": "nowhere"}, "run_on"),
        ({"run_on": "b-lab"}, "run_on"),  # another account's group
        ({"run_on": 3}, "run_on"),
    ],
)
def test_a_bad_child_is_refused_naming_its_field_and_nothing_is_written(world, fields, field):
    parent = world.held()
    before = state()

    with pytest.raises(InvalidInput) as refused:
        start_child(world, parent, **fields)

    assert refused.value.field == field
    assert state() == before


def test_another_accounts_runbook_is_as_missing_as_none(world):
    from tests.support.builders import make_runbook

    make_runbook(world.other, "theirs")
    with pytest.raises(InvalidInput) as refused:
        start_child(world, world.held(), runbook="theirs")
    assert refused.value.field == "runbook"


def test_a_group_being_deleted_takes_no_child(world):
    from automation.services.groups import create_group

    create_group(account=world.account, name="leaving", actor=SYSTEM)
    request_group_deletion(account=world.account, group_name="leaving", actor=SYSTEM)
    with pytest.raises(InvalidInput) as refused:
        start_child(world, world.held(), run_on="leaving")
    assert refused.value.field == "run_on"


def test_a_job_that_ended_starts_nothing(world):
    parent = world.running()
    world.finish(parent)
    before = state()

    with pytest.raises(Conflict) as refused:
        start_child(world, parent)

    assert refused.value.code == "lease_lost"
    assert state() == before


def test_a_child_is_reached_only_through_its_own_parent(world):
    parent, other = world.held(), world.held()
    child = start_child(world, parent)
    unrelated = job_services.start_job(account=world.account, runbook_name="parent", group_name="lab", actor=SYSTEM)

    assert (
        job_assets.child_of(
            worker=world.workers["web-01"], job_id=parent.pk, lease=str(parent.lease_id), child_id=child.pk
        )
        == child
    )
    for job_id, lease, child_id in [
        (other.pk, other.lease_id, child.pk),
        (parent.pk, parent.lease_id, unrelated.pk),
    ]:
        with pytest.raises(NotFound) as refused:
            job_assets.child_of(worker=world.workers["web-01"], job_id=job_id, lease=str(lease), child_id=child_id)
        assert refused.value.code == "no_such_job"


def test_a_childs_state_carries_its_output_in_order_and_why_it_waits(world):
    parent = world.held()
    child = start_child(world, parent)

    queued = job_assets.child_state(child)
    assert (queued["status"], queued["output"]) == ("Queued", [])
    assert queued["status_reason"].startswith("Waiting for a worker of group lab")  # as its blade says

    (claimed,) = job_services.claim_jobs(worker=world.workers["web-02"], limit=1)
    assert claimed.pk == child.pk
    world.finish(claimed, name="web-02", output=["first", "second"])

    assert job_assets.child_state(child) == {
        "id": str(child.pk),
        "status": "Completed",
        "status_reason": "",
        "output": ["first", "second"],
    }


def test_deleting_a_parent_keeps_its_children(world):
    parent = world.running()
    child = start_child(world, parent)
    world.finish(parent)

    Job.objects.filter(pk=parent.pk).delete()

    assert Job.objects.get(pk=child.pk).parent_id is None


def test_children_nest_only_so_deep_so_a_runbook_that_starts_itself_ends(world):
    held = world.held()
    # Above the held job, a chain of ancestors one short of the limit: its child is the last one allowed.
    above = held
    for _ in range(job_services.MAX_CHILD_DEPTH - 1):
        ancestor = job_services.start_job(account=world.account, runbook_name="parent", group_name="lab", actor=SYSTEM)
        Job.objects.filter(pk=above.pk).update(parent=ancestor)
        above = ancestor
    held.refresh_from_db()

    last = start_child(world, held)
    assert Job.objects.get(pk=last.pk).parent_id == held.pk

    top = job_services.start_job(account=world.account, runbook_name="parent", group_name="lab", actor=SYSTEM)
    Job.objects.filter(pk=above.pk).update(parent=top)  # one generation more above the held job
    held.refresh_from_db()
    before = Job.objects.count()
    with pytest.raises(Conflict) as refused:
        start_child(world, held)

    assert refused.value.code == "too_many_generations"
    assert f"{job_services.MAX_CHILD_DEPTH} levels" in refused.value.detail
    assert Job.objects.count() == before


def test_the_migration_marks_the_children_started_before_it_as_started_by_their_parent(world):
    from importlib import import_module

    from django.apps import apps

    parent = world.running()
    child = start_child(world, parent)
    Job.objects.filter(pk=child.pk).update(started_by_kind="user", started_by="job 1a2b3c4d on worker web-01")

    import_module("automation.migrations.0010_job_started_by_kind").child_jobs_were_started_by_their_parent(apps, None)

    assert Job.objects.filter(pk=child.pk).values_list("started_by_kind", "started_by").get() == (
        "parent",
        str(parent.pk),
    )
    assert Job.objects.filter(pk=parent.pk).values_list("started_by_kind", flat=True).get() == "user"
