"""The Django admin for support staff: runbooks, their versions and jobs are there, read-only, with the
search and filters support work needs, at a fixed number of queries, and never with a secret; its
pages have the portal's icon."""

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from automation.models import Job, JobStatus, Runbook, RunbookVersion
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.workers import register_worker

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SYSTEM = Actor.for_system()
SECRET = "hunter2-very-secret-value"
DECLARED = [{"name": "service", "type": "string", "required": True}, {"name": "token", "type": "secret"}]
MODELS = ["runbook", "runbookversion", "job"]


@pytest.fixture
def viewer(make_user, client_for):
    """A staff member who may view everything in the admin and change nothing."""
    user = make_user("vera", staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return client_for(user)


@pytest.fixture
def superuser_client(make_user, client_for):
    user = make_user("sue", staff=True)
    user.is_superuser = True
    user.save()
    return client_for(user)


class World:
    """Runbook "hello" (published, with a secret parameter) in contoso, "other" in fabrikam;
    worker web-01 in contoso's group "lab", which has taken one job."""

    def __init__(self, people):
        self.people = people
        self.hello = self.runbook(people.account, "hello")
        self.other = self.runbook(people.other_account, "other")
        self.worker = register_worker(
            account=people.account, group_name="lab", machine_id="machine-0001", name="web-01", facts={"capacity": 8}
        ).worker
        register_worker(
            account=people.other_account, group_name="lab", machine_id="machine-0002", name="db-01", facts={}
        )

    def runbook(self, account, name) -> Runbook:
        runbook = create_runbook(
            account=account, name=name, runbook_type="bash", content="echo hi", parameters=DECLARED, actor=SYSTEM
        )
        publish_runbook(runbook=runbook, actor=SYSTEM)
        return runbook

    def start(self, runbook="hello", account=None, owner=None) -> Job:
        return job_services.start_job(
            account=account or self.people.account,
            runbook_name=runbook,
            group_name="lab",
            parameters={"service": "web", "token": SECRET},
            actor=Actor(user=owner or self.people.owner),
        )

    def taken(self) -> Job:
        job = self.start()
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.ACTIVATING,
            worker=self.worker,
            worker_name=self.worker.name,
            claimed_at=timezone.now(),
            lease_id=uuid.uuid4(),
        )
        return Job.objects.get(pk=job.pk)


@pytest.fixture
def world(people):
    return World(people)


def changelist(model: str, **query) -> str:
    return reverse(f"admin:automation_{model}_changelist")


def change(model: str, obj) -> str:
    return reverse(f"admin:automation_{model}_change", args=[obj.pk])


def listed_ids(response) -> set[str]:
    return {str(obj.pk) for obj in response.context["cl"].result_list}


@pytest.mark.parametrize("model", MODELS)
def test_a_staff_member_who_may_view_sees_the_list_and_a_detail_page(viewer, world, model):
    job = world.taken()
    obj = {"runbook": world.hello, "runbookversion": world.hello.versions.get(), "job": job}[model]

    listing = viewer.get(changelist(model))
    detail = viewer.get(change(model, obj))

    assert listing.status_code == 200
    assert str(obj.pk) in listed_ids(listing)
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.text


@pytest.mark.parametrize("model", MODELS)
def test_nobody_adds_changes_or_deletes_them_in_the_admin(superuser_client, world, model):
    job = world.taken()
    obj = {"runbook": world.hello, "runbookversion": world.hello.versions.get(), "job": job}[model]

    add = superuser_client.get(reverse(f"admin:automation_{model}_add"))
    detail = superuser_client.get(change(model, obj))
    delete = superuser_client.post(reverse(f"admin:automation_{model}_delete", args=[obj.pk]), {"post": "yes"})
    posted = superuser_client.post(change(model, obj), {"name": "renamed", "status": "Completed"})

    assert add.status_code == 403
    assert 'name="_save"' not in detail.text
    assert delete.status_code == 403
    assert posted.status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()
    assert Runbook.objects.get(pk=world.hello.pk).name == "hello"
    assert Job.objects.get(pk=job.pk).status == JobStatus.ACTIVATING


def test_jobs_are_filtered_by_account_status_worker_and_runbook(viewer, world, people):
    taken = world.taken()
    queued = world.start()
    elsewhere = world.start("other", account=people.other_account, owner=people.stranger)
    url = changelist("job")

    by_account = viewer.get(url, {"account__id__exact": str(people.other_account.pk)})
    by_status = viewer.get(url, {"status__exact": JobStatus.QUEUED})
    by_worker = viewer.get(url, {"worker__id__exact": str(world.worker.pk)})
    by_runbook = viewer.get(url, {"runbook__id__exact": str(world.hello.pk)})

    assert listed_ids(by_account) == {str(elsewhere.pk)}
    assert listed_ids(by_status) == {str(queued.pk), str(elsewhere.pk)}
    assert listed_ids(by_worker) == {str(taken.pk)}
    assert listed_ids(by_runbook) == {str(taken.pk), str(queued.pk)}


@pytest.mark.parametrize(
    "query, expected",
    [("web-01", {"taken"}), ("other", {"elsewhere"}), ("fabrikam", {"elsewhere"}), ("olivia", {"taken", "queued"})],
)
def test_jobs_are_found_by_runbook_worker_account_or_who_started_them(viewer, world, people, query, expected):
    jobs = {
        "taken": world.taken(),
        "queued": world.start(),
        "elsewhere": world.start("other", account=people.other_account, owner=people.stranger),
    }

    response = viewer.get(changelist("job"), {"q": query})

    assert listed_ids(response) == {str(jobs[name].pk) for name in expected}


def test_a_jobs_id_finds_it(viewer, world):
    job = world.taken()
    world.start()

    response = viewer.get(changelist("job"), {"q": str(job.pk)})

    assert listed_ids(response) == {str(job.pk)}


def test_runbooks_and_versions_are_filtered_by_account_and_found_by_name(viewer, world, people):
    by_account = viewer.get(changelist("runbook"), {"account__id__exact": str(people.other_account.pk)})
    by_name = viewer.get(changelist("runbook"), {"q": "hello"})
    versions = viewer.get(changelist("runbookversion"), {"q": "other"})

    assert listed_ids(by_account) == {str(world.other.pk)}
    assert listed_ids(by_name) == {str(world.hello.pk)}
    assert listed_ids(versions) == {str(world.other.versions.get().pk)}


def test_a_secret_parameter_never_appears_on_an_admin_page(superuser_client, world):
    job = world.taken()
    test_run = job_services.start_test(
        runbook=world.hello, group_name="lab", parameters={"service": "web", "token": SECRET}, actor=SYSTEM
    )
    ciphertext = Job.objects.get(pk=job.pk).secret_parameters
    assert ciphertext  # kept encrypted until the job ends

    pages = [
        changelist("job"),
        change("job", job),
        change("job", test_run),
        changelist("runbook"),
        change("runbook", world.hello),
        changelist("runbookversion"),
        change("runbookversion", world.hello.versions.get()),
        changelist("auditevent"),
    ]
    for url in pages:
        text = superuser_client.get(url).text
        assert SECRET not in text, url
        assert ciphertext not in text, url
        assert "secret_parameters" not in text, url
    assert "******" in superuser_client.get(change("job", job)).text  # the masked parameter is shown


def test_searching_for_a_secret_finds_nothing(superuser_client, world):
    world.taken()

    response = superuser_client.get(changelist("job"), {"q": SECRET})

    assert listed_ids(response) == set()


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("model", MODELS)
def test_a_list_costs_the_same_queries_for_3_rows_as_for_30(viewer, world, people, model):
    def add(n):
        for i in range(n):
            runbook = world.runbook(people.account if i % 2 else people.other_account, f"book-{uuid.uuid4().hex[:8]}")
            if i % 2:
                job = world.start(runbook.name)
                Job.objects.filter(pk=job.pk).update(worker=world.worker, worker_name="web-01")

    add(3)
    few = queries_for(viewer, changelist(model))
    add(27)
    many = queries_for(viewer, changelist(model))

    assert many == few


def test_the_runbook_list_links_to_its_jobs(viewer, world):
    job = world.taken()

    listing = viewer.get(changelist("runbook"))
    link = f"{changelist('job')}?runbook__id__exact={world.hello.pk}"
    jobs = viewer.get(link)

    assert link in listing.text
    assert listed_ids(jobs) == {str(job.pk)}


def test_the_versions_of_a_runbook_show_number_and_hash(viewer, world):
    version = RunbookVersion.objects.get(runbook=world.hello)

    response = viewer.get(changelist("runbookversion"))

    assert version.sha256 in response.text


def test_favicon_ico_answers_with_the_portals_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/")
    assert b"<svg" in b"".join(response.streaming_content if response.streaming else [response.content])


def test_admin_pages_name_the_portals_icon(viewer):
    response = viewer.get(reverse("admin:index"))

    assert 'rel="icon"' in response.text
    assert "icons/favicon.svg" in response.text


def test_the_admin_login_page_names_the_portals_icon(client):
    response = client.get(reverse("admin:login"))

    assert 'rel="icon"' in response.text
