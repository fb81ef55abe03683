"""Bidi controls in what people and agents wrote cannot reorder the page around them.

A description, a parameter value, an output line, a token, user or host name may hold U+202E
RIGHT-TO-LEFT OVERRIDE (`txt\u202eexe.txt` shows as `txttxt.exe`). Wherever the pages show such a
string, the element holding it must hold nothing else and be isolated: a <bdi>, or an element that the
portal's stylesheet gives `unicode-bidi: isolate`. Then the string reorders only itself, never the
words, values or columns next to it. This test reads that rule from static/css/portal.css and checks
every place the string appears on every page that shows it; tests/e2e/test_bidi_isolation.py checks in
a real browser that the rule applies.
"""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from automation.models import ApiToken
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.audit import record_event
from automation.services.notifications import create_notification
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.tokens import create_token
from automation.services.workers import register_worker
from tests.support.htmx import HTMX

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SYSTEM = Actor.for_system()
RLO = "\u202e"
MARK = f"txt{RLO}exe.txt"
CSS = Path(settings.BASE_DIR) / "static" / "css" / "portal.css"
# Where plain text is all an element can hold (a form control's value, the tab's title), or what is not
# shown at all: no markup can isolate there, and nothing around it can be reordered.
PLAIN_TEXT = {"textarea", "option", "title", "script", "style"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


# ---- the stylesheet's rule, and a selector matcher for the forms it uses ----------------------------------


def isolating_selectors() -> list[str]:
    css = re.sub(r"/\*.*?\*/", "", CSS.read_text(), flags=re.S)
    rules = [
        sel for sel, body in re.findall(r"([^{}]+)\{([^}]*)\}", css) if re.search(r"unicode-bidi:\s*isolate", body)
    ]
    assert rules, "portal.css has no unicode-bidi: isolate rule"
    return [s.strip() for rule in rules for s in rule.split(",") if s.strip()]


def _compound(text: str, element: tuple[str, set[str]]) -> bool:
    tag, classes = element
    name, *wanted = text.split(".")
    return name in ("", "*", tag) and set(wanted) <= classes


def matches(selector: str, path: list[tuple[str, set[str]]]) -> bool:
    """`path` is the element and its ancestors, outermost first; descendant and child combinators only."""
    parts = selector.replace(">", " > ").split()

    def match(i: int, depth: int) -> bool:
        if not _compound(parts[i], path[depth]):
            return False
        if i == 0:
            return True
        if parts[i - 1] == ">":
            return depth > 0 and match(i - 2, depth - 1)
        return any(match(i - 1, d) for d in range(depth - 1, -1, -1))

    return match(len(parts) - 1, len(path) - 1)


def test_the_matcher_reads_the_selectors_the_rule_uses():
    path = [("div", {"blade-title"}), ("h1", set()), ("span", set())]
    assert matches(".blade-title h1 > span", path)
    assert not matches(
        ".blade-title h1 > span", [("div", {"blade-title"}), ("h1", set()), ("b", set()), ("span", set())]
    )
    assert matches(".breadcrumbs > *", [("nav", {"breadcrumbs"}), ("a", set())])
    assert not matches(".breadcrumbs > *", [("nav", {"breadcrumbs"}), ("a", set()), ("span", set())])
    assert matches("td", [("table", {"grid"}), ("td", {"text"})])
    assert matches(".text", [("td", {"text", "x"})])
    assert not matches(".text", [("td", {"texts"})])


def test_the_stylesheet_isolates_the_elements_that_show_strings():
    selectors = isolating_selectors()

    for expected in ["td", "th", "dd", "li", "h1", "h2", "bdi", ".breadcrumbs > *", ".text"]:
        assert expected in selectors


# ---- finding every place a string is shown -------------------------------------------------------------


class Shown(HTMLParser):
    """Each text node holding a right-to-left override, with the path of the element around it and
    whether that element holds anything else (other text or elements) beside it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[dict] = []
        self.found: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if self.stack:
            self.stack[-1]["content"].append(("element", tag))
        if tag in VOID:
            return
        classes = set((dict(attrs).get("class") or "").split())
        self.stack.append({"tag": tag, "classes": classes, "content": []})

    def handle_startendtag(self, tag, attrs):
        if self.stack:
            self.stack[-1]["content"].append(("element", tag))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self.stack:
            element = self.stack.pop()
            if element["tag"] == tag:
                break

    def handle_data(self, data):
        if not self.stack:
            return
        self.stack[-1]["content"].append(("text", data))
        if RLO in data:
            self.found.append(
                {
                    "path": [(e["tag"], e["classes"]) for e in self.stack],
                    "element": self.stack[-1],
                    "data": data,
                }
            )


def violations(html: str) -> list[str]:
    """Every place a string with an override is shown but not isolated on its own, described for a person;
    and how many places show one."""
    selectors = isolating_selectors()
    parser = Shown()
    parser.feed(html)
    parser.close()
    bad = []
    for hit in parser.found:
        tag = hit["element"]["tag"]
        where = " > ".join(t + "".join(f".{c}" for c in sorted(cs)) for t, cs in hit["path"][-4:])
        if tag in PLAIN_TEXT:
            continue
        others = [c for c in hit["element"]["content"] if c[0] == "element" or (c[1].strip() and c[1] != hit["data"])]
        if others:
            bad.append(f"{where}: shares its element with other content: {hit['data']!r}, {others}")
        elif not any(matches(selector, hit["path"]) for selector in selectors):
            bad.append(f"{where}: not isolated")
    return bad, len(parser.found)


def assert_isolated(response, *, at_least: int = 1) -> None:
    assert response.status_code == 200, response.status_code
    bad, shown = violations(response.content.decode())
    assert shown >= at_least, f"the page shows the string {shown} time(s)"
    assert bad == []


# ---- the pages --------------------------------------------------------------------------------------------


@pytest.fixture
def world(people):
    """Everything that can hold a person's or an agent's text holds MARK; names follow the name rule
    (ASCII), so they cannot."""
    owner = people.owner
    owner.first_name, owner.email = MARK, f"{MARK}@example.test"
    owner.save()
    runbook = create_runbook(
        account=people.account,
        name="deploy",
        runbook_type="bash",
        description=MARK,
        content="echo deploy",
        parameters=[{"name": "message", "type": "string", "default": MARK}, {"name": "other", "type": "string"}],
        actor=SYSTEM,
    )
    publish_runbook(runbook=runbook, actor=SYSTEM)
    worker = register_worker(
        account=people.account,
        group_name="lab",
        machine_id="machine-0001",
        name="web-01",
        facts={
            "hostname": MARK,
            "os": MARK,
            "agent_version": MARK,
            "python_version": MARK,
            "ip_addresses": [MARK, "192.0.2.1"],
            "capacity": 4,
        },
    ).worker
    job = job_services.start_job(
        account=people.account,
        runbook_name="deploy",
        group_name="lab",
        parameters={"message": MARK, "other": "zzz"},
        actor=SYSTEM,
    )
    test = job_services.start_test(runbook=runbook, group_name="lab", parameters={"other": MARK}, actor=SYSTEM)
    for held in job_services.claim_jobs(worker=worker, limit=2):
        records = [job_services.Record(seq=0, stream="output", text=MARK, time=timezone.now())]
        job_services.finish_job(
            worker=worker, job_id=held.pk, lease=held.lease_id, status="Failed", reason=MARK, records=records
        )
    token = create_token(user=owner, name=MARK, expires_days=None, actor=Actor(user=owner)).token
    record_event(actor=SYSTEM, action="runbook.edit", account=people.account, target=runbook, details={"note": MARK})
    create_notification(title=MARK, message=MARK, account=people.account)
    create_notification(title="Plain title", message=MARK, account=people.account)

    class World:
        pass

    w = World()
    w.people, w.account, w.runbook, w.worker, w.job, w.test, w.token = (
        people,
        people.account,
        runbook,
        worker,
        job,
        test,
        token,
    )
    return w


def page(world, route: str, *args, **kwargs):
    from django.test import Client

    client = Client()
    client.force_login(world.people.owner)
    query = kwargs.pop("query", "")
    headers = kwargs.pop("headers", {})
    return client.get(reverse(f"portal:{route}", args=args) + query, headers=headers)


def test_the_runbooks_list(world):
    assert_isolated(page(world, "runbooks", world.account.pk))


def test_the_runbook_blade_and_its_start_dialog(world):
    assert_isolated(page(world, "runbook", world.account.pk, world.runbook.pk), at_least=0)
    assert_isolated(page(world, "runbook_start", world.account.pk, world.runbook.pk, headers=HTMX), at_least=0)


def test_the_jobs_list_and_a_jobs_blade_its_input_reason_and_output(world):
    assert_isolated(page(world, "jobs", world.account.pk), at_least=0)
    # Input (message=MARK other=zzz), the reason it failed, the output line, the owner's name in the menu.
    assert_isolated(page(world, "job", world.account.pk, world.job.pk), at_least=4)
    assert_isolated(page(world, "job_streams", world.account.pk, world.job.pk, query="?after=-1"))


def test_the_test_pane(world):
    assert_isolated(page(world, "runbook_test_output", world.account.pk, world.runbook.pk, world.test.pk), at_least=3)


def test_the_profile_and_the_revoke_dialog(world):
    assert_isolated(page(world, "profile"), at_least=2)
    assert_isolated(page(world, "token_revoke", world.token.pk, headers=HTMX))


def test_the_activity_log(world):
    # The token's creation (its name as the target) and the runbook's edit (a detail).
    assert_isolated(page(world, "activity", world.account.pk), at_least=2)


def test_the_notifications_panel(world):
    assert_isolated(page(world, "notifications", headers=HTMX), at_least=3)


def test_the_worker_blade_and_the_workers_list(world):
    assert_isolated(page(world, "worker", world.account.pk, world.worker.pk), at_least=5)
    assert_isolated(page(world, "group_workers", world.account.pk, world.worker.group_id), at_least=2)


@pytest.mark.parametrize("route", ["home", "groups"])
def test_a_filter_that_finds_nothing_says_so_with_the_filter_isolated(world, route):
    args = [] if route == "home" else [world.account.pk]

    assert_isolated(page(world, route, *args, query=f"?q={MARK}"), at_least=2)


def test_a_string_inside_a_sentence_is_wrapped_in_bdi(world):
    html = page(world, "job", world.account.pk, world.job.pk).content.decode()

    assert f"message=<bdi>{MARK}</bdi>" in html
    assert "other=<bdi>zzz</bdi>" in html
    assert ApiToken.objects.get().name == MARK
