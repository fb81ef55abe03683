"""The Schedules blades (Shared resources → Schedules) and a runbook's Schedules: the list, + Add a schedule with
its next runs before saving, the properties blade (rule, next runs, links, recent fires, its form), Enable and
Disable, Delete naming the linked runbooks, and linking a runbook with its parameters, Run on and overlap."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from automation.models import Schedule, ScheduleFire, ScheduleLink
from automation.services import schedules as services
from automation.services.schedule_firing import fire_due_schedules
from portal.templatetags.schedule_extras import recurrence_words
from tests.support.asset_pages import answers_by_role, assert_secret_free, pages, url
from tests.support.assets import SYSTEM
from tests.support.builders import make_group, make_runbook
from tests.support.htmx import HTMX, htmx_headers
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SECRET = "Sched-S3cret-Value"
PARAMETERS = [
    {"name": "service", "type": "string", "required": True},
    {"name": "count", "type": "int", "required": False, "default": 1},
    {"name": "force", "type": "bool", "required": False, "default": False},
    {"name": "token", "type": "secret", "required": False},
]


@pytest.fixture
def world(people):
    """Group "lab", runbook "restart" (published, with parameters) and "draft" (never published)."""
    make_group(people.account, "lab")
    make_runbook(people.account, "restart", parameters=PARAMETERS)
    make_runbook(people.account, "draft", publish=False)
    return people


def make(p, name="Nightly", **rule) -> Schedule:
    rule = {"start_time": "2030-01-07T02:30:00+01:00", "time_zone": "Europe/Berlin", "frequency": "Day", **rule}
    return services.create_schedule(account=p.account, name=name, actor=SYSTEM, **rule)


def link(p, schedule="Nightly", runbook="restart", **kwargs) -> ScheduleLink:
    kwargs = {"run_on": "lab", "parameters": {"service": "nginx"}, **kwargs}
    return services.link_schedule(
        account=p.account, runbook_name=runbook, schedule_name=schedule, actor=SYSTEM, **kwargs
    )


def weekly_form(name="Weekly", **extra) -> dict:
    """Every 2 weeks on Monday and Thursday at 02:30 in Berlin, from 2030."""
    form = {
        "name": name,
        "description": "",
        "start_date": "2030-01-07",
        "start_clock": "02:30",
        "time_zone": "Europe/Berlin",
        "recurrence": "recurring",
        "interval": "2",
        "unit": "Week",
        "week_days": ["Monday", "Thursday"],
        "month_by": "days",
        "expires": "never",
        "enabled": "yes",
    }
    return {**form, **extra}


def rows(response) -> list[str]:
    return re.findall(r'<tr data-name="([^"]+)"', response.content.decode())


def next_runs(response) -> list[list[str]]:
    table = re.search(r'<table class="grid compact next-runs">(.*?)</table>', response.content.decode(), re.S)
    assert table, "no next runs"
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", table.group(1))][1:]


# ---- who may do what ---------------------------------------------------------------------------------------


def test_each_role_gets_what_its_role_allows_and_a_refusal_writes_nothing(world, client_for):
    p = world
    nightly = make(p)
    gone = make(p, "Gone")
    make(p, "Spare")
    linked = link(p)
    restart = linked.runbook
    requests = [
        ("get", url("schedules", p.account), None),
        ("get", url("schedule_add", p.account), None),
        ("post", url("schedule_add", p.account), weekly_form()),
        ("get", url("schedule", p.account, nightly.pk), None),
        ("post", url("schedule", p.account, nightly.pk), weekly_form(description="changed")),
        ("post", url("schedule_preview", p.account), weekly_form()),
        ("post", url("schedule_enable", p.account, nightly.pk), {"enabled": "no"}),
        ("get", url("schedule_delete", p.account, gone.pk), None),
        ("post", url("schedule_delete", p.account, gone.pk), None),
        ("get", url("schedule_link", p.account, nightly.pk), None),
        ("get", url("runbook_schedules", p.account, restart.pk), None),
        ("get", url("runbook_schedule_link", p.account, restart.pk), None),
        (
            "post",
            url("runbook_schedule_link", p.account, restart.pk),
            {"schedule": "Spare", "run_on": "lab", "param_service": "x", "overlap": "skip"},
        ),
        ("get", url("runbook_schedule_unlink", p.account, restart.pk, linked.pk), None),
        ("post", url("runbook_schedule_unlink", p.account, restart.pk, linked.pk), None),
    ]
    owner = [200, 200, 302, 200, 302, 200, 302, 200, 302, 200, 200, 200, 302, 200, 302]
    expected = {
        "owner": owner,
        # The owner did it all first: the name is taken, Gone is gone, Spare has restart, the link is gone.
        "operator": [200, 200, 400, 200, 302, 200, 302, 404, 404, 200, 200, 200, 400, 404, 404],
        "reader": [200, 403, 403, 200, 403, 200, 403, 403, 403, 403, 200, 403, 403, 403, 403],
        "stranger": [404] * 15,
    }
    answers_by_role(p, client_for, requests, expected)


def test_a_schedule_of_another_account_is_not_found_under_it(world, client_for):
    theirs = services.create_schedule(
        account=world.other_account, name="Theirs", start_time="2030-01-01T00:00:00Z", frequency="Day", actor=SYSTEM
    )
    client = client_for(world.owner)
    for route in ("schedule", "schedule_delete", "schedule_link"):
        assert client.get(url(route, world.account, theirs.pk)).status_code == 404
    assert client.post(url("schedule_enable", world.account, theirs.pk), {"enabled": "no"}).status_code == 404
    assert client.get(url("schedule", world.account, uuid.uuid4())).status_code == 404


def test_a_reader_sees_the_blades_without_a_button_or_a_form(world, client_for):
    nightly = make(world)
    restart = link(world).runbook
    client = client_for(world.reader)
    text = pages(
        client,
        [
            url("schedules", world.account),
            url("schedule", world.account, nightly.pk),
            url("runbook_schedules", world.account, restart.pk),
        ],
    )
    assert "Nightly" in text and "restart" in text
    for command in ("Add a schedule", "Link a runbook", "Unlink", "Disable", ">Delete<", 'id="schedule-form"'):
        assert command not in text, command


# ---- the list ----------------------------------------------------------------------------------------------


def test_the_list_says_next_run_on_the_schedules_clock_recurrence_zone_status_and_runbooks(world, client_for):
    make(world, "Nightly")
    make(world, "Paused")
    services.set_schedule_enabled(account=world.account, name="Paused", enabled=False, actor=SYSTEM)
    now = timezone.now()
    services.create_schedule(
        account=world.account,
        name="Old",
        start_time=now - timedelta(days=3),
        frequency="Day",
        expiry_time=now - timedelta(days=1),
        actor=SYSTEM,
        now=now - timedelta(days=4),
    )
    link(world, "Nightly")
    response = client_for(world.owner).get(url("schedules", world.account))
    assert response.status_code == 200
    assert rows(response) == ["Nightly", "Old", "Paused"]
    html = response.content.decode()
    nightly = html[html.index('data-name="Nightly"') : html.index('data-name="Old"')]
    # 02:30 in Berlin in January is 01:30 UTC: the list shows the wall clock, and UTC on hover.
    assert "2030-01-07 02:30</time>" in nightly and 'title="2030-01-07 01:30:00 UTC"' in nightly
    assert "Every day" in nightly and "Europe/Berlin" in nightly and "Enabled" in nightly
    assert re.search(r"<td>1</td>\s*</tr>", nightly), "one runbook on it"
    assert "Expired" in html[html.index('data-name="Old"') : html.index('data-name="Paused"')]
    assert "Disabled" in html[html.index('data-name="Paused"') :]


def test_the_list_shows_50_a_page_and_its_live_part_refreshes_on_the_schedules_push(world, client_for):
    for i in range(51):
        make(world, f"s-{i:02}")
    client = client_for(world.owner)
    first = client.get(url("schedules", world.account))
    assert len(rows(first)) == 50
    assert 'data-live-refresh="schedules-changed"' in first.content.decode()
    second = client.get(url("schedules", world.account) + "?page=2", headers=HTMX)
    assert rows(second) == ["s-50"]
    assert "<html" not in second.content.decode()


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"frequency": "OneTime"}, "Once"),
        ({"frequency": "Minute", "interval": 15}, "Every 15 minutes"),
        ({"frequency": "Hour"}, "Every hour"),
        ({"frequency": "Day", "interval": 3}, "Every 3 days"),
        (
            {"frequency": "Week", "interval": 2, "week_days": ["Monday", "Thursday"]},
            "Every 2 weeks on Monday, Thursday",
        ),
        ({"frequency": "Month", "month_days": [1, 15, -1]}, "Every month on days 1, 15 and the last day"),
        ({"frequency": "Month", "month_days": [-1]}, "Every month on the last day"),
        (
            {
                "frequency": "Month",
                "interval": 3,
                "monthly_occurrences": [{"day": "Monday", "occurrence": 1}, {"day": "Friday", "occurrence": -1}],
            },
            "Every 3 months on the first Monday, last Friday",
        ),
    ],
)
def test_the_recurrence_is_said_in_words(world, rule, words):
    assert recurrence_words(make(world, **rule)) == words


# ---- + Add a schedule --------------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_adding_a_weekly_schedule_saves_its_wall_clock_rule_in_its_zone(world, client_for, htmx):
    response = client_for(world.operator).post(
        url("schedule_add", world.account), weekly_form(), headers=htmx_headers(htmx)
    )
    assert response.status_code == (200 if htmx else 302)
    made = Schedule.objects.get(account=world.account, name="Weekly")
    assert made.start_time == datetime(2030, 1, 7, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert (made.time_zone, made.frequency, made.interval) == ("Europe/Berlin", "Week", 2)
    assert made.week_days == ["Monday", "Thursday"] and made.month_days == [] and made.expiry_time is None
    assert made.created_by == world.operator.username


def test_the_add_blade_shows_the_next_five_runs_before_anything_is_saved(world, client_for):
    client = client_for(world.operator)
    blade = client.get(url("schedule_add", world.account))
    assert blade.status_code == 200
    html = blade.content.decode()
    assert len(next_runs(blade)) == 1, "the default: once, half an hour from now"
    assert f'hx-post="{url("schedule_preview", world.account)}"' in html
    assert 'data-browser-zone="true"' in html and "data-no-js-only" in html
    before = state()
    # With JavaScript: each change asks the preview view; without, the Preview button posts the form to itself.
    for answer in (
        client.post(url("schedule_preview", world.account), weekly_form(), headers=HTMX),
        client.post(url("schedule_add", world.account), {**weekly_form(), "preview": "1"}),
    ):
        assert answer.status_code == 200
        runs = next_runs(answer)
        assert [r[0].split(" <")[0] for r in runs] == [
            "Mon 7 Jan 2030, 02:30:00",
            "Thu 10 Jan 2030, 02:30:00",
            "Mon 21 Jan 2030, 02:30:00",
            "Thu 24 Jan 2030, 02:30:00",
            "Mon 4 Feb 2030, 02:30:00",
        ]
        assert runs[0][1] == "Mon 7 Jan 2030, 01:30:00" and "CET" in runs[0][0]
    assert state() == before, "a preview writes nothing"


def test_the_preview_keeps_the_wall_clock_across_a_daylight_saving_change(world, client_for):
    form = weekly_form(start_date="2030-03-18", interval="1", week_days=["Monday"])
    runs = next_runs(client_for(world.operator).post(url("schedule_preview", world.account), form, headers=HTMX))
    # Berlin moves to CEST on 31 March 2030: 02:30 local stays 02:30, one hour earlier in UTC.
    assert [r[0].split(" <")[0][-8:] for r in runs] == ["02:30:00"] * 5
    assert runs[1][1] == "Mon 25 Mar 2030, 01:30:00" and runs[2][1] == "Mon 1 Apr 2030, 00:30:00"
    assert "CEST" in runs[2][0]


def test_a_preview_of_a_rule_the_service_refuses_says_why(world, client_for):
    form = weekly_form(expires="at", expiry_date="2029-01-01", expiry_clock="00:00")
    answer = client_for(world.operator).post(url("schedule_preview", world.account), form, headers=HTMX)
    assert answer.status_code == 200
    assert "expiry_time is after start_time." in answer.content.decode()


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "bad/name"}, "name", "Names are 1 to 128 characters"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Select a valid choice."),
        ({"start_date": "2030-02-30"}, "start_date", "Enter a valid date."),
        ({"interval": "0"}, "interval", "greater than or equal to 1"),
        ({"unit": "Month", "month_by": "occurrence", "occurrences": ["9"]}, "occurrences", "Select a valid choice."),
        (
            {"expires": "at", "expiry_date": "2029-01-01", "expiry_clock": "00:00"},
            "expiry_date",
            "expiry_time is after start_time.",
        ),
        ({"expires": "at", "expiry_date": ""}, "expiry_date", "Enter the date it expires"),
        ({"recurrence": "once", "start_date": "2001-01-01"}, "start_date", "OneTime schedule is in the future"),
        ({"description": "x" * 600}, "description", "description"),
        ({"description": "a\x01b"}, "description", "description"),
    ],
)
def test_bad_input_names_its_field_and_saves_nothing(world, client_for, change, field, says):
    before = state()
    response = client_for(world.operator).post(url("schedule_add", world.account), weekly_form(**change))
    assert response.status_code == 400
    html = response.content.decode()
    errors = re.search(rf'id="id_{field}".*?<ul class="errors">(.*?)</ul>', html, re.S)
    assert errors and says in errors.group(1), (field, html[html.find("errors") - 400 : html.find("errors") + 400])
    assert state() == before


def test_a_taken_name_is_refused_on_the_form(world, client_for):
    make(world, "Weekly")
    response = client_for(world.operator).post(url("schedule_add", world.account), weekly_form(name="weekly"))
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert Schedule.objects.filter(account=world.account).count() == 1


# ---- the properties blade ---------------------------------------------------------------------------------


def test_the_properties_blade_shows_its_rule_next_runs_links_with_secrets_masked_and_recent_fires(world, client_for):
    start = (timezone.now() - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    nightly = make(world, start_time=start, frequency="Minute", interval=10, now=start)
    link(world, parameters={"service": "nginx", "token": SECRET}, overlap="skip")
    # The scheduler was down for two days: the fires it missed are one range, and the last one runs a minute late.
    result = fire_due_schedules(now=start + timedelta(days=2, minutes=1))
    assert (result.missed, result.started) == (1, 1)
    response = client_for(world.owner).get(url("schedule", world.account, nightly.pk))
    assert response.status_code == 200
    html = response.content.decode()
    berlin = ZoneInfo("Europe/Berlin")
    assert "Every 10 minutes" in html and start.astimezone(berlin).strftime("%Y-%m-%d %H:%M:%S %Z") in html
    saved = re.search(r'id="saved-next-runs"[^>]*>(.*?)</table>', html, re.S).group(1)
    assert saved.count("<tr>") == 6, "a heading and five runs"
    links = re.search(r'id="schedule-links">(.*?)</table>', html, re.S).group(1)
    assert "restart" in links and "service=<bdi>nginx</bdi>" in links and "token=<bdi>******</bdi>" in links
    assert "<td>Skip</td>" in links and "<td>lab</td>" in links
    fires = re.search(r'id="schedule-fires">(.*?)</table>', html, re.S).group(1)
    missed = ScheduleFire.objects.get(outcome="missed")
    assert missed.missed_count == 2 * 24 * 6  # every fire of the two days but the last
    first, last = (t.astimezone(berlin).strftime("%Y-%m-%d %H:%M") for t in (missed.fire_time, missed.missed_until))
    assert f"{missed.missed_count} runs missed from {first} to {last}" in fires
    assert 'data-outcome="started"' in fires and "Started 60 s late." in fires
    assert_secret_free(html, [SECRET])


def test_saving_the_properties_changes_what_was_typed_and_keeps_the_rest(world, client_for):
    nightly = make(world)
    form = weekly_form(name="ignored", description="Backups", start_date="2030-01-07", start_clock="02:30:00")
    form.update(unit="Month", month_by="occurrence", occurrences=["1", "-1"], occurrence_days=["Friday"], interval="1")
    client = client_for(world.operator)
    response = client.post(url("schedule", world.account, nightly.pk), form)
    assert response.status_code == 302
    nightly.refresh_from_db()
    assert nightly.name == "Nightly" and nightly.description == "Backups"
    assert nightly.frequency == "Month" and nightly.week_days == []
    assert nightly.monthly_occurrences == [{"day": "Friday", "occurrence": 1}, {"day": "Friday", "occurrence": -1}]
    assert nightly.start_time == datetime(2030, 1, 7, 1, 30, tzinfo=UTC)
    assert "Every month on the first Friday, last Friday" in client.get(response.url).content.decode()


def test_a_refused_change_saves_nothing_and_previewing_saves_nothing(world, client_for):
    nightly = make(world)
    client = client_for(world.operator)
    before = state()
    bad = client.post(url("schedule", world.account, nightly.pk), weekly_form(interval="0", description="x"))
    assert bad.status_code == 400
    previewed = client.post(
        url("schedule", world.account, nightly.pk), {**weekly_form(description="y"), "preview": "1"}
    )
    assert previewed.status_code == 200 and len(next_runs(previewed)) == 5
    assert state() == before


def test_disable_and_enable_keep_the_start_time(world, client_for):
    nightly = make(world)
    start = nightly.start_time
    client = client_for(world.operator)
    assert client.post(url("schedule_enable", world.account, nightly.pk), {"enabled": "no"}).status_code == 302
    nightly.refresh_from_db()
    assert not nightly.enabled and nightly.next_run is None
    blade = client.get(url("schedule", world.account, nightly.pk)).content.decode()
    assert "Disabled: it runs nothing" in blade and ">Enable</button>" in blade
    assert client.post(url("schedule_enable", world.account, nightly.pk), {"enabled": "yes"}).status_code == 302
    nightly.refresh_from_db()
    assert nightly.enabled and nightly.start_time == start and nightly.next_run is not None


def test_the_delete_dialog_names_the_linked_runbooks_and_delete_takes_the_links_too(world, client_for):
    nightly = make(world)
    link(world)
    client = client_for(world.operator)
    dialog = client.get(url("schedule_delete", world.account, nightly.pk), headers=HTMX).content.decode()
    names = re.search(r'id="delete-links">(.*?)</ul>', dialog, re.S).group(1)
    assert "restart" in names and "This cannot be undone." in dialog
    response = client.post(url("schedule_delete", world.account, nightly.pk), headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == url("schedules", world.account)
    assert not Schedule.objects.filter(pk=nightly.pk).exists() and not ScheduleLink.objects.exists()


# ---- links from the runbook's blade --------------------------------------------------------------------------


def test_the_runbook_blade_fetches_its_schedules_section(world, client_for):
    make(world)
    restart = link(world).runbook
    client = client_for(world.owner)
    blade = client.get(url("runbook", world.account, restart.pk)).content.decode()
    section = url("runbook_schedules", world.account, restart.pk)
    assert f'hx-get="{section}" hx-trigger="load"' in blade and "Add a schedule" in blade
    part = client.get(section, headers=HTMX).content.decode()
    assert "<html" not in part and "Nightly" in part and "2030-01-07 02:30" in part and "Unlink" in part


def test_linking_from_the_runbook_takes_typed_parameters_as_start_does(world, client_for):
    make(world)
    restart = make_runbook(world.account, "typed", parameters=PARAMETERS)
    client = client_for(world.operator)
    dialog = client.get(url("runbook_schedule_link", world.account, restart.pk) + "?schedule=Nightly", headers=HTMX)
    html = dialog.content.decode()
    assert '<option value="Nightly" selected>' in html
    for field in ("param_service", "param_count", "param_force", "param_token", "run_on", "overlap"):
        assert f'name="{field}"' in html, field
    form = {"schedule": "Nightly", "run_on": "lab", "param_service": "nginx", "param_count": "5", "param_force": "true"}
    form.update(param_token=SECRET, overlap="queue")
    response = client.post(url("runbook_schedule_link", world.account, restart.pk), form)
    assert response.status_code == 302
    made = ScheduleLink.objects.get(runbook=restart)
    assert made.parameters == {"service": "nginx", "count": 5, "force": True, "token": "******"}
    assert (made.run_on_name, made.overlap) == ("lab", "queue")
    assert_secret_free(client.get(url("runbook_schedules", world.account, restart.pk)).content.decode(), [SECRET])


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"param_service": ""}, "param_service", "Parameter &#x27;service&#x27; is required."),
        ({"param_count": "many"}, "param_count", "count"),
        ({"schedule": ""}, "schedule", "This field is required."),
        ({"schedule": "Nope"}, "schedule", "Select a valid choice."),
        ({"run_on": "elsewhere"}, "run_on", "Select a valid choice."),
        ({"overlap": "sometimes"}, "overlap", "Select a valid choice."),
    ],
)
def test_a_refused_link_names_its_field_and_links_nothing(world, client_for, change, field, says):
    make(world)
    restart = world.account.runbooks.get(name="restart")
    form = {"schedule": "Nightly", "run_on": "lab", "param_service": "nginx", "overlap": "allow", **change}
    before = state()
    response = client_for(world.operator).post(url("runbook_schedule_link", world.account, restart.pk), form)
    assert response.status_code == 400
    html = response.content.decode()
    errors = re.search(rf'id="id_{field}.*?<ul class="errors">(.*?)</ul>', html, re.S)
    assert errors and says in errors.group(1), (field, html)
    assert state() == before


def test_a_runbook_without_a_published_version_cannot_be_linked(world, client_for):
    make(world)
    draft = world.account.runbooks.get(name="draft")
    client = client_for(world.operator)
    dialog = client.get(url("runbook_schedule_link", world.account, draft.pk)).content.decode()
    assert "has no published version" in dialog
    before = state()
    form = {"schedule": "Nightly", "run_on": "lab", "overlap": "allow"}
    response = client.post(url("runbook_schedule_link", world.account, draft.pk), form)
    assert response.status_code == 400 and "has no published version" in response.content.decode()
    assert state() == before


def test_link_a_runbook_from_the_schedule_offers_published_runbooks_not_on_it_yet(world, client_for):
    nightly = make(world)
    make_runbook(world.account, "other")
    link(world)
    html = (
        client_for(world.operator).get(url("schedule_link", world.account, nightly.pk), headers=HTMX).content.decode()
    )
    offered = re.search(r'id="link-runbooks">(.*?)</ul>', html, re.S).group(1)
    assert "other" in offered and "restart" not in offered and "draft" not in offered
    assert "?schedule=Nightly" in offered


@pytest.mark.parametrize(("back", "to"), [("", "runbook"), ("schedule", "schedule")])
def test_unlink_returns_where_it_was_asked_from(world, client_for, back, to):
    nightly = make(world)
    made = link(world)
    client = client_for(world.operator)
    address = url("runbook_schedule_unlink", world.account, made.runbook_id, made.pk)
    dialog = client.get(address + (f"?back={back}" if back else "")).content.decode()
    assert "Nightly" in dialog and "restart" in dialog
    response = client.post(address, {"back": back} if back else {})
    assert response.status_code == 302
    target = (
        url("schedule", world.account, nightly.pk)
        if to == "schedule"
        else url("runbook", world.account, made.runbook_id)
    )
    assert response.url == target
    assert not ScheduleLink.objects.exists()


# ---- jobs a schedule started ---------------------------------------------------------------------------------


def test_a_scheduled_job_links_to_its_schedule_while_it_exists_and_says_how_late_it_started(world, client_for):
    now = timezone.now().replace(microsecond=0)
    planned = now - timedelta(minutes=3)
    nightly = make(world, start_time=planned, frequency="OneTime", time_zone="UTC", now=planned - timedelta(minutes=1))
    link(world)
    assert fire_due_schedules(now=now).started == 1  # three minutes late, within the grace period
    job = ScheduleLink.objects.get().last_job
    client = client_for(world.owner)
    schedule_link = f'<a href="{url("schedule", world.account, nightly.pk)}">Nightly</a>'
    for address in (url("jobs", world.account), url("job", world.account, job.pk)):
        html = client.get(address).content.decode()
        assert schedule_link in html, address
    blade = client.get(url("job", world.account, job.pk)).content.decode()
    assert "started 3 min late" in blade
    services.delete_schedule(account=world.account, name="Nightly", actor=SYSTEM)
    html = client.get(url("job", world.account, job.pk)).content.decode()
    assert "schedule Nightly" in html and schedule_link not in html
