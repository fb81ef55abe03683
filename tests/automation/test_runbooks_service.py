"""Runbooks: create, declared parameters, the draft, immutable published versions, delete, and who may."""

import hashlib

import pytest

from automation.models import OPEN_STATUSES, AuditEvent, Job, JobStatus, Runbook, RunbookVersion
from automation.queries.runbooks import runbooks_of
from automation.services import runbooks as svc
from automation.services.actor import Actor
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from automation.services.groups import create_group
from automation.validators import NAME_RULE
from tests.support.state import state

pytestmark = pytest.mark.django_db

SYSTEM = Actor.for_system()
CONTENT = "import sys\nprint('hello', sys.argv[1:])\n"


def as_(user) -> Actor:
    return Actor(user=user, ip="198.51.100.7")


def make(p, name="hello", *, runbook_type="python3", content=CONTENT, parameters=None, account=None, **kwargs):
    return svc.create_runbook(
        account=account or p.account,
        name=name,
        runbook_type=runbook_type,
        content=content,
        parameters=parameters,
        actor=kwargs.pop("actor", SYSTEM),
        **kwargs,
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---- create ---------------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator"])
def test_an_operator_or_owner_creates_a_runbook(people, role):
    user = people.by_role[role]
    runbook = svc.create_runbook(
        account=people.account,
        name="Restart web.service v2",
        runbook_type="bash",
        description="Restarts the web service.",
        content="systemctl restart web\n",
        parameters=[{"name": "service", "type": "string", "required": True}],
        actor=as_(user),
    )

    stored = Runbook.objects.get(pk=runbook.pk)
    assert stored.account == people.account
    assert stored.name == "Restart web.service v2"
    assert stored.runbook_type == "bash"
    assert stored.description == "Restarts the web service."
    assert stored.draft == "systemctl restart web\n"
    assert stored.parameters == [{"name": "service", "type": "string", "required": True}]
    assert stored.created_by == user.username
    assert not stored.versions.exists()
    event = AuditEvent.objects.get(action="runbook.create")
    assert (event.account, event.actor_name, event.target_name) == (people.account, user.username, stored.name)


@pytest.mark.parametrize("runbook_type", ["python3", "bash", "powershell"])
def test_each_runbook_type_may_be_created(people, runbook_type):
    runbook = make(people, runbook_type=runbook_type)

    assert Runbook.objects.get(pk=runbook.pk).runbook_type == runbook_type


@pytest.mark.parametrize("runbook_type", ["python", "Python3", "PYTHON3", "sh", "pwsh", "", None, 3, ["bash"]])
def test_an_unknown_runbook_type_is_refused_and_nothing_is_written(people, runbook_type):
    before = state()

    with pytest.raises(InvalidInput) as error:
        make(people, runbook_type=runbook_type)

    assert error.value.field == "runbook_type"
    assert "python3, bash or powershell" in error.value.detail
    assert state() == before


@pytest.mark.parametrize("name", ["a", "x" * 128, "with space", "a.b-c_d", "Restart web.service v2", "1", ".hidden"])
def test_names_that_follow_the_rule_are_accepted(people, name):
    assert make(people, name=name).name == name


@pytest.mark.parametrize(
    "name",
    ["", " lead", "trail ", "...", ".", "a/b", "a\\b", "x" * 129, "tab\there", "naïve", "a\nb", "a%2Fb", None, 5],
)
def test_a_name_that_breaks_the_rule_is_refused_with_the_rule(people, name):
    before = state()

    with pytest.raises(InvalidInput) as error:
        make(people, name=name)

    assert error.value.field == "name"
    assert error.value.detail == NAME_RULE
    assert state() == before


def test_a_name_is_unique_in_its_account_only(people):
    make(people, name="hello")
    before = state()

    with pytest.raises(Conflict) as error:
        make(people, name="hello", runbook_type="bash")

    assert error.value.field == "name"
    assert "'hello' already exists" in error.value.detail
    assert state() == before
    make(people, name="hello", account=people.other_account)
    assert Runbook.objects.filter(name="hello").count() == 2


def test_content_up_to_the_limit_in_bytes_is_accepted(people):
    exact = "a" * svc.MAX_CONTENT_BYTES
    two_byte = "é" * (svc.MAX_CONTENT_BYTES // 2)

    assert len(make(people, name="ascii", content=exact).draft) == svc.MAX_CONTENT_BYTES
    assert make(people, name="accents", content=two_byte).draft == two_byte


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("a" * (svc.MAX_CONTENT_BYTES + 1), "at most 1024 KiB"),
        # The limit is in bytes: half as many two-byte characters, plus one.
        ("é" * (svc.MAX_CONTENT_BYTES // 2) + "a", "at most 1024 KiB"),
        ("print(1)\x00", "NUL"),
        (None, "text"),
        (42, "text"),
        (["print(1)"], "text"),
    ],
)
def test_content_over_the_limit_or_not_text_is_refused(people, content, words):
    before = state()

    with pytest.raises(InvalidInput) as error:
        make(people, content=content)

    assert error.value.field == "content"
    assert words in error.value.detail
    assert state() == before


def test_a_description_is_text_of_at_most_2000_characters(people):
    assert make(people, name="long", description="d" * 2000).description == "d" * 2000
    before = state()

    for description in ("d" * 2001, None, 5):
        with pytest.raises(InvalidInput) as error:
            make(people, name="too-long", description=description)
        assert error.value.field == "description"
    assert state() == before


# ---- declared parameters ----------------------------------------------------------------------


@pytest.mark.sqlite
def test_parameters_of_every_type_are_declared_with_their_defaults(people):
    declared = [
        {"name": "service", "type": "string", "required": True},
        {"name": "count", "type": "int", "default": 3},
        {"name": "force", "type": "bool", "required": False, "default": False},
        {"name": "options", "type": "json", "default": {"retries": [1, 2]}},
        {"name": "_Plain9"},
        {"name": "nothing", "type": "int", "default": None},
    ]

    runbook = make(people, parameters=declared)

    assert Runbook.objects.get(pk=runbook.pk).parameters == [
        {"name": "service", "type": "string", "required": True},
        {"name": "count", "type": "int", "required": False, "default": 3},
        {"name": "force", "type": "bool", "required": False, "default": False},
        {"name": "options", "type": "json", "required": False, "default": {"retries": [1, 2]}},
        {"name": "_Plain9", "type": "string", "required": False},
        {"name": "nothing", "type": "int", "required": False},
    ]


@pytest.mark.parametrize("parameters", [None, "", []])
def test_no_parameters_is_an_empty_declaration(people, parameters):
    assert make(people, parameters=parameters).parameters == []


def test_up_to_50_parameters_may_be_declared(people):
    declared = [{"name": f"p{i}"} for i in range(50)]

    assert len(make(people, parameters=declared).parameters) == 50


BAD_DECLARATIONS = [
    ({"name": "x"}, "parameters is a list of at most 50"),
    ("x", "parameters is a list of at most 50"),
    ([{"name": f"p{i}"} for i in range(51)], "parameters is a list of at most 50"),
    (["service"], "parameters[0] is an object"),
    ([{"name": "ok"}, None], "parameters[1] is an object"),
    ([{"name": "x", "kind": "int"}], "parameters[0] has unknown keys: kind"),
    ([{"name": "x", "Type": "int", "values": [1]}], "parameters[0] has unknown keys: Type, values"),
    ([{"type": "int"}], "parameters[0].name"),
    ([{"name": ""}], "parameters[0].name"),
    ([{"name": "1st"}], "parameters[0].name"),
    ([{"name": "ok"}, {"name": "with-dash"}], "parameters[1].name"),
    ([{"name": "with space"}], "parameters[0].name"),
    ([{"name": "a" * 65}], "parameters[0].name"),
    ([{"name": None}], "parameters[0].name"),
    ([{"name": 7}], "parameters[0].name"),
    ([{"name": "naïve"}], "parameters[0].name"),
    ([{"name": "x"}, {"name": "x"}], "Parameter 'x' is declared twice"),
    ([{"name": "Service"}, {"name": "service", "type": "int"}], "Parameter 'service' is declared twice"),
    ([{"name": "x", "type": "integer"}], "parameters[0].type is one of string, int, bool, json"),
    ([{"name": "x", "type": "str"}], "parameters[0].type is one of string, int, bool, json"),
    ([{"name": "x", "type": None}], "parameters[0].type is one of string, int, bool, json"),
    ([{"name": "x", "required": "yes"}], "parameters[0].required is true or false"),
    ([{"name": "x", "required": 1}], "parameters[0].required is true or false"),
    ([{"name": "n", "type": "int", "default": "3"}], "The default of 'n' must be a whole number"),
    ([{"name": "n", "type": "int", "default": 1.5}], "The default of 'n' must be a whole number"),
    ([{"name": "n", "type": "int", "default": True}], "The default of 'n' must be a whole number"),
    ([{"name": "b", "type": "bool", "default": "true"}], "The default of 'b' must be true or false"),
    ([{"name": "b", "type": "bool", "default": 0}], "The default of 'b' must be true or false"),
    ([{"name": "s", "type": "string", "default": 5}], "The default of 's' must be a string"),
    ([{"name": "s", "default": ["a"]}], "The default of 's' must be a string"),
]


@pytest.mark.parametrize(("parameters", "words"), BAD_DECLARATIONS)
def test_a_bad_declaration_is_refused_naming_the_problem_and_nothing_is_written(people, parameters, words):
    before = state()

    with pytest.raises(InvalidInput) as error:
        make(people, parameters=parameters)

    assert error.value.field == "parameters"
    assert words in error.value.detail
    assert state() == before


# ---- the draft ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_update_draft_changes_only_what_it_is_given(people, role):
    runbook = make(people, description="old", parameters=[{"name": "x"}])
    actor = as_(people.by_role[role])

    svc.update_draft(runbook=runbook, content="echo new\n", actor=actor)
    stored = Runbook.objects.get(pk=runbook.pk)
    assert (stored.draft, stored.description, stored.parameters) == (
        "echo new\n",
        "old",
        [{"name": "x", "type": "string", "required": False}],
    )

    svc.update_draft(runbook=runbook, description="new", parameters=[{"name": "y", "type": "int"}], actor=actor)
    stored = Runbook.objects.get(pk=runbook.pk)
    assert (stored.draft, stored.description, stored.parameters) == (
        "echo new\n",
        "new",
        [{"name": "y", "type": "int", "required": False}],
    )
    events = AuditEvent.objects.filter(action="runbook.edit").order_by("created_at")
    assert [e.details["fields"] for e in events] == [["draft"], ["description", "parameters"]]
    assert {e.actor_name for e in events} == {people.by_role[role].username}


def test_an_empty_draft_and_empty_parameters_may_be_saved(people):
    runbook = make(people, parameters=[{"name": "x"}])

    svc.update_draft(runbook=runbook, content="", description="", parameters=[], actor=SYSTEM)

    stored = Runbook.objects.get(pk=runbook.pk)
    assert (stored.draft, stored.description, stored.parameters) == ("", "", [])


def test_an_update_with_nothing_in_it_changes_nothing(people):
    runbook = make(people)
    before = state()

    svc.update_draft(runbook=runbook, actor=SYSTEM)

    assert state() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"content": "x" * (svc.MAX_CONTENT_BYTES + 1)}, "content"),
        ({"content": "a\x00b"}, "content"),
        ({"description": "d" * 2001}, "description"),
        ({"parameters": [{"name": "bad name"}]}, "parameters"),
        # A good content with a bad declaration: neither is saved.
        ({"content": "echo fine", "parameters": [{"name": "n", "type": "int", "default": "x"}]}, "parameters"),
        ({"content": "echo fine", "description": 5}, "description"),
    ],
)
def test_a_bad_update_changes_nothing(people, change, field):
    runbook = make(people)
    before = state()

    with pytest.raises(InvalidInput) as error:
        svc.update_draft(runbook=runbook, actor=SYSTEM, **change)

    assert error.value.field == field
    assert state() == before


# ---- publish ----------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_publish_freezes_the_draft_as_numbered_versions_with_their_sha256(people):
    declared = [{"name": "count", "type": "int", "default": 1}]
    runbook = make(people, content="print('one')\n", parameters=declared)

    first = svc.publish_runbook(runbook=runbook, actor=as_(people.operator))
    svc.update_draft(runbook=runbook, content="print('two → ünïcode')\n", parameters=[], actor=SYSTEM)
    second = svc.publish_runbook(runbook=runbook, actor=as_(people.owner))
    svc.update_draft(runbook=runbook, content="print('three')\n", actor=SYSTEM)

    versions = list(RunbookVersion.objects.filter(runbook=runbook).order_by("number"))
    assert [v.number for v in versions] == [1, 2]
    assert [v.pk for v in versions] == [first.pk, second.pk]
    one, two = versions
    assert (one.content, one.sha256, one.runbook_type) == ("print('one')\n", sha256("print('one')\n"), "python3")
    assert one.parameters == [{"name": "count", "type": "int", "required": False, "default": 1}]
    assert one.published_by == people.operator.username
    assert two.content == "print('two → ünïcode')\n"
    assert two.sha256 == sha256("print('two → ünïcode')\n")
    assert two.parameters == []
    assert two.published_by == people.owner.username
    # The draft moved on; the published versions did not.
    assert Runbook.objects.get(pk=runbook.pk).draft == "print('three')\n"
    assert svc.latest_version(runbook).pk == second.pk
    assert runbooks_of(people.account).get(pk=runbook.pk).published_version == 2
    events = AuditEvent.objects.filter(action="runbook.publish").order_by("created_at")
    assert [e.details for e in events] == [
        {"version": 1, "sha256": one.sha256},
        {"version": 2, "sha256": two.sha256},
    ]


def test_publishing_the_same_draft_again_makes_another_version_with_the_same_sha256(people):
    runbook = make(people)

    first = svc.publish_runbook(runbook=runbook, actor=SYSTEM)
    second = svc.publish_runbook(runbook=runbook, actor=SYSTEM)

    assert (first.number, second.number) == (1, 2)
    assert first.sha256 == second.sha256 == sha256(CONTENT)


def test_versions_are_numbered_per_runbook(people):
    a, b = make(people, name="a"), make(people, name="b")

    svc.publish_runbook(runbook=a, actor=SYSTEM)
    svc.publish_runbook(runbook=a, actor=SYSTEM)

    assert svc.publish_runbook(runbook=b, actor=SYSTEM).number == 1


def test_a_runbook_without_a_version_has_no_latest_version(people):
    runbook = make(people)

    assert svc.latest_version(runbook) is None
    assert runbooks_of(people.account).get(pk=runbook.pk).published_version is None


@pytest.mark.parametrize("draft", ["", "   ", "\n\t\n"])
def test_an_empty_draft_cannot_be_published(people, draft):
    runbook = make(people, content=draft)
    before = state()

    with pytest.raises(InvalidInput) as error:
        svc.publish_runbook(runbook=runbook, actor=SYSTEM)

    assert error.value.field == "content"
    assert "empty" in error.value.detail
    assert state() == before


@pytest.mark.sqlite
def test_publish_with_the_editors_draft_saves_it_and_publishes_exactly_that(people):
    runbook = make(people, content="", parameters=[{"name": "old", "type": "string"}])
    typed = "print('typed, never saved')\n"
    declared = [{"name": "who", "type": "string", "required": True}]

    version = svc.publish_runbook(
        runbook=runbook, actor=as_(people.operator), content=typed, parameters=declared, description="Typed too."
    )

    saved = Runbook.objects.get(pk=runbook.pk)
    assert (saved.draft, saved.description, saved.parameters) == (typed, "Typed too.", declared)
    assert (version.number, version.content, version.sha256) == (1, typed, sha256(typed))
    assert version.parameters == declared
    events = dict(
        AuditEvent.objects.filter(action__in=["runbook.edit", "runbook.publish"]).values_list("action", "details")
    )
    assert events == {
        "runbook.edit": {"fields": ["description", "draft", "parameters"]},
        "runbook.publish": {"version": 1, "sha256": sha256(typed)},
    }


@pytest.mark.sqlite
def test_publish_reads_the_saved_draft_not_the_callers_copy(people):
    stale = make(people, content="echo one")
    svc.update_draft(runbook=Runbook.objects.get(pk=stale.pk), content="echo two", actor=SYSTEM)

    version = svc.publish_runbook(runbook=stale, actor=SYSTEM)

    assert (version.content, version.sha256) == ("echo two", sha256("echo two"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"content": "   "}, "content"),
        ({"content": "echo\x00"}, "content"),
        ({"content": "echo ok", "parameters": [{"name": "bad name"}]}, "parameters"),
        ({"content": "echo ok", "retries": 9}, "retries"),
        ({"content": "echo ok", "description": "x" * 2001}, "description"),
    ],
)
def test_a_refused_publish_saves_nothing_of_the_editors_draft(people, change, field):
    runbook = make(people)
    svc.publish_runbook(runbook=runbook, actor=SYSTEM)
    before = state()

    with pytest.raises(InvalidInput) as error:
        svc.publish_runbook(runbook=runbook, actor=SYSTEM, **change)

    assert error.value.field == field
    assert state() == before


def authoring_state(runbook) -> str:
    return runbooks_of(runbook.account).get(pk=runbook.pk).state


@pytest.mark.sqlite
def test_the_authoring_state_follows_the_draft_against_the_latest_version(people):
    declared = [{"name": "count", "type": "int", "default": 1}]
    runbook = make(people, content="echo one", parameters=declared)
    assert authoring_state(runbook) == "New"

    svc.publish_runbook(runbook=runbook, actor=SYSTEM)
    assert authoring_state(runbook) == "Published"
    # What a version does not freeze leaves it Published.
    svc.update_draft(runbook=runbook, description="Other words.", retries=2, timeout_seconds=60, actor=SYSTEM)
    assert authoring_state(runbook) == "Published"

    svc.update_draft(runbook=runbook, content="echo two", actor=SYSTEM)
    assert authoring_state(runbook) == "Edit"
    # Derived, not remembered: the draft put back as published is Published again.
    svc.update_draft(runbook=runbook, content="echo one", actor=SYSTEM)
    assert authoring_state(runbook) == "Published"

    svc.update_draft(runbook=runbook, parameters=[], actor=SYSTEM)
    assert authoring_state(runbook) == "Edit"
    svc.publish_runbook(runbook=runbook, actor=SYSTEM)
    assert authoring_state(runbook) == "Published"
    # Only the latest version counts: a draft equal to version 1 is still a change from version 2.
    svc.update_draft(runbook=runbook, parameters=declared, actor=SYSTEM)
    assert authoring_state(runbook) == "Edit"
    assert runbooks_of(people.account).get(pk=runbook.pk).published_version == 2


@pytest.mark.sqlite
def test_every_runbook_of_the_list_has_its_own_state(people):
    make(people, name="c-new")
    edited = make(people, name="b-edited")
    published = make(people, name="a-published")
    for runbook in (edited, published):
        svc.publish_runbook(runbook=runbook, actor=SYSTEM)
    svc.update_draft(runbook=edited, content="echo changed", actor=SYSTEM)
    make(people, name="theirs", account=people.other_account)

    listed = [(r.name, r.state, r.published_version) for r in runbooks_of(people.account)]

    assert listed == [("a-published", "Published", 1), ("b-edited", "Edit", 1), ("c-new", "New", None)]


# ---- delete ---------------------------------------------------------------------------------------------


def add_job(p, runbook, status) -> Job:
    version = svc.latest_version(runbook) or svc.publish_runbook(runbook=runbook, actor=SYSTEM)
    group = create_group(account=p.account, name=f"group-{Job.objects.count()}", actor=SYSTEM)
    return Job.objects.create(
        account=p.account,
        runbook=runbook,
        runbook_name=runbook.name,
        version=version,
        version_number=version.number,
        group=group,
        group_name=group.name,
        status=status,
    )


@pytest.mark.parametrize("status", OPEN_STATUSES)
def test_a_runbook_with_a_queued_or_running_job_cannot_be_deleted(people, status):
    runbook = make(people)
    add_job(people, runbook, JobStatus.COMPLETED)
    add_job(people, runbook, status)
    before = state()

    with pytest.raises(Conflict) as error:
        svc.delete_runbook(runbook=runbook, actor=SYSTEM)

    assert error.value.code == "runbook_busy"
    assert "1 job(s) queued or running" in error.value.detail
    assert state() == before


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator"])
def test_deleting_a_runbook_removes_its_versions_and_keeps_its_finished_jobs(people, role):
    runbook = make(people)
    jobs = [add_job(people, runbook, status) for status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)]
    other = make(people, name="other")

    svc.delete_runbook(runbook=runbook, actor=as_(people.by_role[role]))

    assert list(Runbook.objects.values_list("name", flat=True)) == ["other"]
    assert not RunbookVersion.objects.exclude(runbook=other).exists()
    for job in jobs:
        job.refresh_from_db()
        assert (job.runbook_id, job.runbook_name, job.version_number) == (None, "hello", 1)
    assert AuditEvent.objects.filter(action="runbook.delete", target_name="hello").count() == 1


# ---- who may ---------------------------------------------------------------------------------------------


def operations(p, runbook):
    return {
        "create": lambda actor: make(p, name="new one", actor=actor),
        "update": lambda actor: svc.update_draft(runbook=runbook, content="echo changed", actor=actor),
        "publish": lambda actor: svc.publish_runbook(runbook=runbook, actor=actor),
        "delete": lambda actor: svc.delete_runbook(runbook=runbook, actor=actor),
    }


OPERATIONS = ["create", "update", "publish", "delete"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_reader_may_not_change_runbooks(people, operation):
    runbook = make(people)
    before = state()

    with pytest.raises(PermissionDenied) as error:
        operations(people, runbook)[operation](as_(people.reader))

    assert "Operator or Owner" in error.value.detail
    assert state() == before


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_stranger_is_told_the_account_does_not_exist(people, operation):
    runbook = make(people)
    before = state()

    with pytest.raises(NotFound) as error:
        operations(people, runbook)[operation](as_(people.stranger))

    assert "contoso" not in error.value.detail
    assert state() == before


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("role", ["owner", "operator"])
def test_operators_and_owners_may_do_each_operation(people, operation, role):
    runbook = make(people)

    operations(people, runbook)[operation](as_(people.by_role[role]))

    assert AuditEvent.objects.filter(actor_name=people.by_role[role].username).exists()
