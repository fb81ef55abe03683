"""What an agent sends is kept whole and within bounds: a retried job keeps every attempt's output
whatever seq the lost attempt reached; text the database cannot hold is stored with U+FFFD; a batch
naming one seq twice, a number past what its column and the pages hold, a time that is out of range
or has no offset, and a non-strict `wait` are refused with a 400 that names the field; a worker removed
while its long-poll waits gets the answer of a removed credential; and the largest heartbeat an agent
builds fits the body limit."""

import json
import threading
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from automation.api.agent import jobs as agent_jobs
from automation.api.agent.serializers import MAX_CLOCK, MAX_LOAD
from automation.api.agent.views import BAD_CREDENTIAL
from automation.models import HybridWorker, Job, JobStatus, JobStream
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.leases import reclaim_lost_jobs
from automation.services.presence import offline_after
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.tokens import create_token
from automation.services.workers import register_worker, remove_worker
from tests.automation.api.helpers import assert_error, call
from tests.support import state as snapshot

SYSTEM = Actor.for_system()
MAX_SEQ = 2**31 - 1  # the documented largest seq of one attempt
MAX_CAPACITY = 1024  # the largest capacity a worker may report
long_poll = pytest.mark.django_db(transaction=True)


class World:
    """Account A, group "lab": web-01 and web-02 (capacity 2 each); runbooks "once" (no retries),
    "again" (1 retry) and "thrice" (3 retries)."""

    def __init__(self, people):
        self.people = people
        self.account = people.account
        for name, retries in (("once", 0), ("again", 1), ("thrice", 3)):
            runbook = create_runbook(
                account=self.account,
                name=name,
                runbook_type="bash",
                content="echo hi",
                retries=retries,
                actor=SYSTEM,
            )
            publish_runbook(runbook=runbook, actor=SYSTEM)
        self.creds, self.ids = {}, {}
        for name in ("web-01", "web-02"):
            self.register(name, capacity=2)

    def register(self, name: str, capacity: int) -> None:
        registration = register_worker(
            account=self.account,
            group_name="lab",
            machine_id=f"machine-{name}",
            name=name,
            facts={"capacity": capacity},
        )
        self.creds[name], self.ids[name] = registration.credential, registration.worker.pk

    def worker(self, name="web-01") -> HybridWorker:
        return HybridWorker.objects.select_related("group").get(pk=self.ids[name])

    def start(self, runbook="once") -> Job:
        return job_services.start_job(account=self.account, runbook_name=runbook, group_name="lab", actor=SYSTEM)

    def claim(self, name="web-01") -> Job:
        (job,) = job_services.claim_jobs(worker=self.worker(name), limit=1)
        return job

    def held(self, runbook="once", name="web-01") -> Job:
        self.start(runbook)
        return self.claim(name)

    def post(self, client, operation, body=None, name="web-01"):
        return call(client, self.account.pk, operation, body, token=self.creds[name])


@pytest.fixture
def world(people) -> World:
    return World(people)


def state() -> dict[str, list[tuple]]:
    """Every stored row, a worker's last_seen_at too: a refused agent request must not count as a sighting."""
    return snapshot.state(ignoring=())


def line(seq: int, text: str | None = None, stream: str = "output", **fields) -> dict:
    return {"seq": seq, "stream": stream, "text": f"line {seq}" if text is None else text, **fields}


def send(client, world, operation, job, records, name="web-01", **fields):
    """records or finish (status Completed unless given) for `job`, under its lease."""
    body = {"lease": str(job.lease_id), "records": records, **fields}
    if operation == "finish":
        body.setdefault("status", "Completed")
    return world.post(client, f"jobs/{job.pk}/{operation}", body, name)


def api_reader(world) -> APIClient:
    client = APIClient(REMOTE_ADDR="198.51.100.20")
    token = create_token(user=world.people.reader, name="tests", expires_days=None, actor=SYSTEM).plain
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def streams_api(client, world, job, query: str = "") -> list[tuple[int, str]]:
    response = client.get(f"/api/v1/accounts/{world.account.pk}/jobs/{job.pk}/streams/{query}")
    assert response.status_code == 200, response.content
    assert response.json()["next"] is None
    return [(r["seq"], r["text"]) for r in response.json()["results"]]


# ---- 1. a retried job keeps every attempt's output, whatever seq the lost one reached ------------------


def lose(client, world, name: str, how: str) -> None:
    """`name` loses what it holds: its service stops (POST leave), or it goes silent and the sweep runs."""
    if how == "leave":
        assert world.post(client, "leave", name=name).status_code == 200
    else:
        HybridWorker.objects.filter(pk=world.ids[name]).update(
            last_seen_at=timezone.now() - offline_after() - timedelta(seconds=1)
        )
        reclaim_lost_jobs()


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("how", ["leave", "sweep"])
def test_the_attempt_after_one_that_reached_the_largest_seq_is_accepted_and_shown(agent, world, how, client_for):
    job = world.held("again")
    assert send(agent, world, "records", job, [line(0, "a1 first"), line(MAX_SEQ, "a1 last")]).status_code == 200

    lose(agent, world, "web-01", how)
    retry = world.claim("web-02")
    assert (retry.pk, retry.attempt) == (job.pk, 2)
    answer = send(agent, world, "records", retry, [line(0, "again 0"), line(1, "again 1")], name="web-02")
    assert answer.status_code == 200, answer.content
    answer = send(agent, world, "finish", retry, [line(2, "again 2")], name="web-02", exit_code=0)
    assert answer.status_code == 200, answer.content

    assert Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED
    reader = api_reader(world)
    shown = streams_api(reader, world, job)
    texts = [text for _, text in shown]
    assert texts[:2] == ["a1 first", "a1 last"]
    assert "attempt 1 ended here" in texts[2]
    assert texts[3:] == ["again 0", "again 1", "again 2"]
    seqs = [seq for seq, _ in shown]
    assert seqs == sorted(set(seqs)), "one job-wide order, no seq twice"
    # Paging past the retry marker gives exactly the later attempt's records, in the API and on the page.
    marker = seqs[2]
    assert marker > MAX_SEQ
    assert streams_api(reader, world, job, f"?after={marker}") == shown[3:]
    page = client_for(world.people.reader).get(
        reverse("portal:job_streams", args=[world.account.pk, job.pk]) + f"?after={marker}"
    )
    assert page.status_code == 200
    assert [f"again {i}" in page.content.decode() for i in range(3)] == [True] * 3
    assert "a1 last" not in page.content.decode()


@pytest.mark.django_db
@pytest.mark.sqlite
def test_every_attempt_may_use_the_whole_seq_range(agent, world):
    """Three retries, each attempt reaching the largest seq before it is lost: the last one still ends."""
    job = world.held("thrice")
    names = ["web-01", "web-02"]
    for attempt in range(1, 5):
        name = names[attempt % 2 - 1]
        if attempt > 1:
            assert world.post(agent, "heartbeat", {}, name=name).status_code == 200
            job = world.claim(name)
        assert job.attempt == attempt
        records = [line(0, f"a{attempt} first"), line(MAX_SEQ, f"a{attempt} last")]
        answer = send(agent, world, "records" if attempt < 4 else "finish", job, records, name=name)
        assert answer.status_code == 200, answer.content
        if attempt < 4:
            lose(agent, world, name, "leave")

    assert Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED
    texts = list(JobStream.objects.filter(job=job).order_by("seq").values_list("text", flat=True))
    assert [t for t in texts if not t.startswith("worker lost")] == [
        f"a{attempt} {which}" for attempt in range(1, 5) for which in ("first", "last")
    ]
    assert len(texts) == 8 + 3


# ---- 2. text the database cannot hold: stored with U+FFFD, on both databases --------------------------

UNSTORABLE = {
    "a NUL": ("a\x00b", "a\ufffdb"),
    "only NULs": ("\x00\x00", "\ufffd\ufffd"),
    "a surrogate pair is a character": ("\ud83d\ude00", "\U0001f600"),
}
# A lone surrogate escape is no character: the JSON parser refuses the whole body (test_api_errors.py).
LONE_SURROGATES = {"a lone high surrogate": "a\ud800b", "a lone low surrogate": "x\udfff"}


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize(("text", "stored"), UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_record_text_and_reason_are_stored_with_unstorable_characters_replaced(agent, world, text, stored):
    job = world.held()
    # json.dumps writes the NUL and the surrogates as \u escapes, as any JSON encoder may.
    assert send(agent, world, "records", job, [line(0, text)]).status_code == 200
    answer = send(agent, world, "finish", job, [line(1, text)], status="Failed", exit_code=1, reason=text)

    assert answer.status_code == 200, answer.content
    assert list(JobStream.objects.filter(job=job).values_list("text", flat=True)) == [stored, stored]
    assert Job.objects.get(pk=job.pk).status_reason == stored


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("text", LONE_SURROGATES.values(), ids=LONE_SURROGATES.keys())
def test_a_record_with_a_lone_surrogate_is_refused_whole_and_nothing_is_stored(agent, world, text):
    job = world.held()
    before = state()

    assert_error(send(agent, world, "records", job, [line(0, "fine"), line(1, text)]), 400, "parse_error")

    assert state() == before


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("reason", [5, ["x"], {"x": 1}, True])
def test_a_reason_that_is_not_a_string_is_refused(agent, world, reason):
    job = world.held()
    before = state()

    body = assert_error(send(agent, world, "finish", job, [], reason=reason), 400, "invalid")

    assert "reason" in body["detail"]
    assert state() == before


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("operation", ["register", "heartbeat"])
@pytest.mark.parametrize("fact", ["hostname", "os", "agent_version"])
def test_a_fact_with_a_lone_surrogate_is_refused(agent, world, keys, operation, fact):
    before = state()
    facts = {fact: "web\ud800"}
    if operation == "register":
        body = {"group": "lab", "machine_id": "machine-web-01", "name": "web-01", "facts": facts}
        response = call(agent, world.account.pk, "register", body, token=keys["a"]["primary"])
    else:
        response = world.post(agent, "heartbeat", {"facts": facts})

    body = assert_error(response, 400, "parse_error")
    assert "surrogate" in body["detail"]
    assert state() == before


# ---- 3. one seq twice in a batch -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("operation", ["records", "finish"])
def test_a_batch_naming_one_seq_twice_is_refused_whole(agent, world, operation):
    job = world.held()
    before = state()

    records = [line(0, "a"), line(1, "b"), line(0, "c")]
    body = assert_error(send(agent, world, operation, job, records), 400, "invalid")

    assert "seq 0" in body["detail"]
    assert body.get("field") == "records"
    assert state() == before
    assert Job.objects.get(pk=job.pk).status == JobStatus.ACTIVATING


# ---- 4. host facts within what the column and the pages hold ------------------------------------------

BYTE_FACTS = ["memory_bytes", "memory_available_bytes", "disk_free_bytes"]


def report_facts(client, world, keys, operation, facts):
    if operation == "register":
        body = {"group": "lab", "machine_id": "machine-web-01", "name": "web-01", "facts": facts}
        return call(client, world.account.pk, "register", body, token=keys["a"]["primary"])
    return world.post(client, "heartbeat", {"facts": facts})


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("operation", ["register", "heartbeat"])
@pytest.mark.parametrize("fact", BYTE_FACTS)
@pytest.mark.parametrize("value", [2**63, 10**20, 10**400], ids=["2**63", "10**20", "10**400"])
def test_a_byte_count_past_a_64_bit_integer_is_refused(agent, world, keys, operation, fact, value):
    before = state()

    body = assert_error(report_facts(agent, world, keys, operation, {fact: value}), 400, "invalid")

    assert f"facts.{fact}" in body["detail"]
    assert state() == before


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("fact", "raw"),
    [
        ("load", "[NaN]"),
        ("load", "[Infinity, 0, 0]"),
        ("load", "[1e400]"),
        ("load", f"[{10**400}]"),
        ("clock", "NaN"),
        ("clock", "-Infinity"),
        ("clock", "1e400"),
        ("clock", str(10**400)),
        ("cpu_count", "1e400"),
    ],
)
def test_a_number_that_is_not_finite_is_refused(agent, world, fact, raw):
    before = state()

    response = world.post(agent, "heartbeat", f'{{"facts": {{"{fact}": {raw}}}}}')

    assert_error(response, 400)
    assert state() == before


@pytest.mark.django_db
@pytest.mark.sqlite
def test_the_largest_numbers_allowed_are_stored_and_the_workers_blade_shows_them(agent, world, client_for):
    facts = {fact: 2**63 - 1 for fact in BYTE_FACTS} | {"load": [MAX_LOAD] * 3, "clock": MAX_CLOCK}
    assert world.post(agent, "heartbeat", {"facts": facts}).status_code == 200
    assert world.worker().facts["disk_free_bytes"] == 2**63 - 1

    page = client_for(world.people.reader).get(reverse("portal:worker", args=[world.account.pk, world.ids["web-01"]]))

    assert page.status_code == 200


# Facts as an older server version may have stored them (nothing checked their size then).
STORED_FACTS = {
    "huge byte counts": {fact: 10**400 for fact in BYTE_FACTS},
    "negative byte counts": {fact: -(10**30) for fact in BYTE_FACTS},
    "byte counts as text": {"memory_bytes": "lots", "memory_available_bytes": [1], "disk_free_bytes": {"a": 1}},
    "byte counts as floats": {fact: 1.5e300 for fact in BYTE_FACTS},
    "a huge load": {"load": [10**400, -(10**400), 1e308]},
    "a load of words": {"load": ["high", None, True]},
    "a load that is not a list": {"load": 10**400},
    "a huge CPU count": {"cpu_count": 10**400},
}


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("facts", STORED_FACTS.values(), ids=STORED_FACTS.keys())
def test_the_workers_blade_shows_whatever_facts_are_stored(world, client_for, facts):
    HybridWorker.objects.filter(pk=world.ids["web-01"]).update(facts=facts)

    page = client_for(world.people.reader).get(reverse("portal:worker", args=[world.account.pk, world.ids["web-01"]]))

    assert page.status_code == 200
    assert "web-01" in page.content.decode()


# ---- 5. record times: an offset, and within range once in UTC -------------------------------------------

BAD_TIMES = {
    "past year 9999 in UTC": "9999-12-31T23:59:59-23:59",
    "before year 1 in UTC": "0001-01-01T00:00:00+23:00",
    "no offset": "2026-01-02T03:04:05",
    "no offset, date only": "2026-01-02",
    "not a date": "yesterday",
    "month 13": "2026-13-01T00:00:00Z",
    "February 30": "2026-02-30T10:00:00Z",
    "empty": "",
    "a number": 1767323045,
    "null": None,
    "a list": ["2026-01-02T03:04:05Z"],
}


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("operation", ["records", "finish"])
@pytest.mark.parametrize("moment", BAD_TIMES.values(), ids=BAD_TIMES.keys())
def test_a_record_time_without_an_offset_or_out_of_range_is_refused(agent, world, operation, moment):
    job = world.held()
    before = state()

    records = [line(0), line(1, time=moment)]
    body = assert_error(send(agent, world, operation, job, records), 400, "invalid")

    assert "records[1].time" in body["detail"]
    assert body.get("field") == "records"
    assert state() == before


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12"])
def test_record_times_are_stored_in_utc_and_shown_in_any_time_zone(agent, world, client_for, settings, zone):
    job = world.held()
    moments = ["2026-01-02T05:04:05+02:00", "9999-12-30T23:59:59.999999Z", "0001-01-02T00:00:00+00:00"]
    records = [line(i, time=moment) for i, moment in enumerate(moments)]
    before = timezone.now()
    assert send(agent, world, "finish", job, records).status_code == 200

    # Taken (any offset, the whole range), and kept on the server's clock: a time before the claim is the
    # claim's, one after the record arrived is its arrival.
    claimed = Job.objects.get(pk=job.pk).claimed_at
    stored = list(JobStream.objects.filter(job=job).order_by("seq").values_list("time", flat=True))
    assert [t.utcoffset() for t in stored] == [timedelta(0)] * 3
    assert stored[0] == stored[2] == claimed
    assert before <= stored[1] <= timezone.now()
    settings.TIME_ZONE = zone
    page = client_for(world.people.reader).get(reverse("portal:job", args=[world.account.pk, job.pk]))
    assert page.status_code == 200


# ---- 6. a worker removed while its long-poll waits ----------------------------------------------------


def remove_by_operator(world, client):
    remove_worker(account=world.account, worker_id=world.ids["web-01"], actor=Actor(user=world.people.owner))


def remove_by_its_machine(world, client):
    assert world.post(client, "deregister", {}).status_code == 200


def register_again(world, client):
    """The machine registers again (from another state folder): the credential the poll came with is void."""
    register_worker(
        account=world.account, group_name="lab", machine_id="machine-web-01", name="web-01", facts={"capacity": 2}
    )


@long_poll
@pytest.mark.sqlite
@pytest.mark.parametrize(
    "remove",
    [remove_by_operator, remove_by_its_machine, register_again],
    ids=["removed by an operator", "removed by its machine", "registered again"],
)
def test_a_worker_removed_while_its_long_poll_waits_gets_the_answer_of_a_removed_credential(
    agent, world, monkeypatch, settings, remove
):
    # No fallback poll during the wait: only the removal (or the end of the wait) ends it.
    monkeypatch.setattr(agent_jobs, "FALLBACK_POLL_SECONDS", 120.0)
    settings.LONG_POLL_SECONDS = 60
    waiting = threading.Event()
    take = agent_jobs.NextJobsView._take

    def take_then_tell(worker, known_stops):
        found = take(worker, known_stops)
        waiting.set()  # subscribed (before the first look) and found nothing: it waits now
        return found

    monkeypatch.setattr(agent_jobs.NextJobsView, "_take", staticmethod(take_then_tell))
    result = {}

    def wait_for_work():
        try:
            result["response"] = world.post(APIClient(REMOTE_ADDR="198.51.100.10"), "jobs/next", {"wait": 30})
        finally:
            connections.close_all()

    thread = threading.Thread(target=wait_for_work)
    thread.start()
    assert waiting.wait(60), "the long-poll never started waiting"
    remove(world, agent)
    thread.join(90)

    assert not thread.is_alive()
    refused = assert_error(result["response"], 401, "unauthorized")
    assert refused["detail"] == BAD_CREDENTIAL
    later = assert_error(world.post(agent, "heartbeat", {}), 401)  # the credential the poll came with
    assert (refused["code"], refused["detail"]) == (later["code"], later["detail"])
    assert result["response"]["WWW-Authenticate"] == 'Bearer realm="agentsvc"'


# ---- 7. jobs/next's wait is a number, strictly ------------------------------------------------------------


@long_poll
@pytest.mark.sqlite
@pytest.mark.parametrize(
    "raw",
    ["true", "false", '"0.5"', '"0"', "NaN", "Infinity", "1e400", str(10**400), "[1]", '{"s": 1}'],
)
def test_a_wait_that_is_not_a_finite_number_is_refused(agent, world, raw):
    world.start()
    before = state()

    body = assert_error(world.post(agent, "jobs/next", f'{{"wait": {raw}}}'), 400)

    if body["code"] == "invalid":
        assert "wait" in body["detail"]
    assert state() == before


@long_poll
@pytest.mark.sqlite
@pytest.mark.parametrize("wait", [0, 0.0, 0.25])
def test_a_wait_of_a_whole_or_fractional_number_is_taken(agent, world, wait):
    job = world.start()

    response = world.post(agent, "jobs/next", {"wait": wait})

    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()["jobs"]] == [str(job.pk)]


# ---- 8. the largest heartbeat fits the body limit --------------------------------------------------------

# JSON's longest spelling of one character: a character outside the BMP, \u-escaped as a surrogate pair.
WIDEST = "\U0001f600"


def longest_facts() -> dict:
    """Every fact an agent reports, at its largest."""
    return {
        "hostname": WIDEST * 255,
        "os": WIDEST * 200,
        "ip_addresses": [WIDEST * 64] * 32,
        "cpu_count": 4096,
        "memory_bytes": 2**63 - 1,
        "memory_available_bytes": 2**63 - 1,
        "disk_free_bytes": 2**63 - 1,
        "load": [1.2345678901234567e-300] * 3,
        "agent_version": WIDEST * 32,
        "python_version": WIDEST * 32,
        "capacity": MAX_CAPACITY,
        "clock": 1.2345678901234567e-300,
    }


@pytest.mark.django_db
@pytest.mark.sqlite
def test_a_heartbeat_listing_as_many_jobs_as_the_largest_capacity_with_every_fact_at_its_longest_is_accepted(
    agent, world
):
    world.register("big-01", capacity=MAX_CAPACITY)
    # One job started as usual and copies of it: starting 1,024 one by one would take most of a minute.
    first = world.start()
    copied = {f.attname: getattr(first, f.attname) for f in Job._meta.concrete_fields if not f.primary_key}
    Job.objects.bulk_create([Job(**copied) for _ in range(MAX_CAPACITY - 1)])
    held = job_services.claim_jobs(worker=world.worker("big-01"), limit=MAX_CAPACITY)
    assert len(held) == MAX_CAPACITY
    jobs = [{"id": str(job.pk), "lease": str(job.lease_id)} for job in held]
    # Python's default spelling (", " and ": ", \u escapes) is longer than the agent's compact one.
    raw = json.dumps({"facts": longest_facts(), "jobs": jobs})

    response = world.post(agent, "heartbeat", raw, name="big-01")

    assert response.status_code == 200, (len(raw), settings.AGENT_MAX_BODY_BYTES, response.content[:300])
    assert world.worker("big-01").facts["capacity"] == MAX_CAPACITY
    assert Job.objects.filter(worker_id=world.ids["big-01"], status=JobStatus.ACTIVATING).count() == MAX_CAPACITY


@pytest.mark.django_db
@pytest.mark.sqlite
def test_a_heartbeat_listing_more_jobs_than_the_largest_capacity_is_refused(agent, world):
    before = state()
    jobs = [{"id": str(uuid.uuid4()), "lease": str(uuid.uuid4())} for _ in range(MAX_CAPACITY + 1)]

    body = assert_error(world.post(agent, "heartbeat", {"jobs": jobs}), 400, "invalid")

    assert "jobs" in body["detail"] and str(MAX_CAPACITY) in body["detail"]
    assert state() == before


@long_poll
@pytest.mark.sqlite
def test_a_long_poll_may_name_as_many_stops_as_the_largest_capacity(agent, world):
    stopping = [str(uuid.uuid4()) for _ in range(MAX_CAPACITY)]

    response = world.post(agent, "jobs/next", {"wait": 0, "stopping": stopping})
    assert response.status_code == 200, response.content

    body = assert_error(world.post(agent, "jobs/next", {"wait": 0, "stopping": [*stopping, str(uuid.uuid4())]}), 400)
    assert "stopping" in body["detail"]


@pytest.mark.django_db
@pytest.mark.sqlite
# Positions outside -1 … 2**63-1 are refused with 400 (tests/automation/api/test_management_bad_input.py).
@pytest.mark.parametrize(("after", "first"), [(2**63 - 1, None), (-1, 0), (0, 1)])
def test_paging_after_any_sequence_number_is_an_answer_not_an_error(agent, world, client_for, after, first):
    job = world.held()
    assert send(agent, world, "finish", job, [line(0), line(1)]).status_code == 200

    shown = streams_api(api_reader(world), world, job, f"?after={after}")
    page = client_for(world.people.reader).get(
        reverse("portal:job_streams", args=[world.account.pk, job.pk]) + f"?after={after}"
    )

    assert [seq for seq, _ in shown][:1] == ([] if first is None else [first])
    assert page.status_code == 200
