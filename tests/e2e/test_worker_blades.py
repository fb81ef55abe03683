"""Hybrid worker groups and workers in the browser, with real agents, a real Celery worker and Celery beat.

A heartbeat a second and a presence sweep a second keep the live parts short: a worker is
Offline three seconds after its last heartbeat, and the beat notices it within another second.
"""

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import expect

from automation.models import HybridWorkerGroup
from automation.services.actor import Actor
from automation.services.keys import reveal_keys
from tests.e2e.conftest import off_loop, sign_in
from tests.support.celery_beat import start_celery_beat
from tests.support.processes import BASE_DIR, BIN, Process, start_celery_worker, start_daphne
from tests.workers.conftest import folder_for_agents

pytestmark = pytest.mark.e2e

# Lease = 3 heartbeats = 6 s: short enough to watch a worker go Offline, long enough that a
# loaded machine does not take a running job away from a live agent.
SERVER_SETTINGS = {"HEARTBEAT_INTERVAL_SECONDS": "2", "PRESENCE_SWEEP_SECONDS": "1"}
PASSWORD = "correct horse battery"
# ms: how long a live update may take to show, on a busy machine too (an agent claims the job, starts
# its runbook and reports; daphne pushes); only a failure waits this long.
LIVE = 30_000
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass
class Stack:
    url: str
    celery: Process

    def endpoint(self, account) -> str:
        return f"{self.url}/agentsvc/accounts/{account.pk}"


@pytest.fixture
def stack(request, server_env, log_dir, tmp_path, transactional_db):
    """daphne, a Celery worker and Celery beat, all with the short heartbeat and sweep (or the test
    module's own SERVER_SETTINGS)."""
    env = {**server_env, **getattr(request.module, "SERVER_SETTINGS", SERVER_SETTINGS)}
    started: list[Process] = []
    try:
        daphne, url = start_daphne(env, log_dir)
        started.append(daphne)
        celery = start_celery_worker(env, log_dir)
        started.append(celery)
        started.append(start_celery_beat(env, log_dir, tmp_path / "beat"))
        yield Stack(url=url, celery=celery)
    finally:
        for process in reversed(started):
            if process.alive():
                os.killpg(process.popen.pid, signal.SIGCONT)  # in case a test left it paused
            process.stop()


@pytest.fixture
def context(browser, stack):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=stack.url)
    yield context
    context.close()


class Agent:
    """One `hybridworker` installation: a state folder of its own, driven through the real command."""

    def __init__(self, name: str, directory: Path, env: dict[str, str]) -> None:
        self.name = name
        self.directory = directory
        self.state_dir = directory / "state"
        self.env = env
        self.run: Process | None = None

    def command(self, *args: str) -> list[str]:
        return [str(BIN / "hybridworker"), *args, "--state-dir", str(self.state_dir)]

    def register(self, endpoint: str, key: str, group: str) -> None:
        args = self.command("register", "--group", group, "--endpoint", endpoint, "--token", key, "--name", self.name)
        result = subprocess.run(args, cwd=BASE_DIR, env=self.env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr

    def start(self) -> Process:
        self.run = Process(f"agent-{self.name}", self.command("run"), self.env, self.directory / "run.log")
        return self.run

    def stop(self) -> None:
        if self.run is not None:
            self.run.stop()


@pytest.fixture
def agents(tmp_path):
    """`agents("name")`: an agent with a state folder of its own; every run is stopped afterwards."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES and not k.startswith("PYTEST_")}
    env["PYTHONUNBUFFERED"] = "1"
    made: list[Agent] = []
    # As root, runbooks run as another user, who must pass through to the sandboxes (pytest's folders are private).
    root = folder_for_agents(tmp_path)

    def make(name: str) -> Agent:
        agent = Agent(name, root / f"agent-{name}", env)
        agent.directory.mkdir(parents=True)
        agent.directory.chmod(0o755)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.stop()
    if root != tmp_path:
        shutil.rmtree(root, ignore_errors=True)


def primary_key(people) -> str:
    def reveal() -> str:
        try:
            return reveal_keys(account=people.account, actor=Actor(user=people.owner))["primary"]
        finally:
            connections.close_all()  # this thread's own connection: left open, it would keep the test DB busy

    return off_loop(reveal)


def mark(page) -> None:
    """Tag the loaded document: the tag survives live updates and is gone after any navigation."""
    page.evaluate("window.__marker = 1")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__marker") == 1, f"{page.url} was reloaded or navigated away"


def open_live(context, path: str):
    page = context.new_page()
    page.goto(path)
    expect(page.locator("#live-state")).to_have_class(re.compile("connected"))
    mark(page)
    return page


def test_an_owner_creates_a_group_sees_a_worker_join_removes_it_and_deletes_the_group(
    context, stack, people, agents, shot
):
    account = people.account
    groups_path = f"/accounts/{account.pk}/groups/"
    page = context.new_page()
    sign_in(page, people.owner.username, PASSWORD)
    page.get_by_role("link", name="contoso-automation").click()
    page.locator(".blade-menu").get_by_role("link", name="Hybrid worker groups").click()
    expect(page.locator(".blade-title h1")).to_contain_text("contoso-automation | Hybrid worker groups")
    expect(page.locator("#groups-table")).to_contain_text("No hybrid worker groups yet")
    # A second tab keeps the groups list open for the whole story; it is never reloaded.
    groups_tab = open_live(context, groups_path)
    shot(page, "01-groups-empty")

    # Create the group through the dialog.
    page.get_by_role("link", name="Add hybrid worker group").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#id_name").fill("datacenter-east")
    shot(page, "02-add-dialog")
    dialog.get_by_role("button", name="Create").click()
    expect(page.locator(".infobar")).to_contain_text("Created hybrid worker group datacenter-east.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("datacenter-east | Hybrid worker group")
    shot(page, "03-group-properties")
    group = HybridWorkerGroup.objects.get(account=account, name="datacenter-east")
    expect(groups_tab.locator('tr[data-group="datacenter-east"]')).to_be_visible(timeout=LIVE)
    assert_not_reloaded(groups_tab)
    shot(groups_tab, "04-groups-list-live")

    page.locator(".breadcrumbs").get_by_role("link", name="Hybrid worker groups").click()
    row = page.locator('tr[data-group="datacenter-east"]')
    expect(row).to_contain_text("datacenter-east")
    row.get_by_role("link", name="datacenter-east").click()

    # The group's Hybrid workers blade: a real agent registers and runs; its row appears Online live.
    page.locator("#group-tiles .tile", has_text="Hybrid workers").click()
    expect(page.locator(".blade-title h1")).to_contain_text("contoso-automation | Hybrid workers")
    expect(page.locator("#workers-table")).to_contain_text("No workers in this group")
    expect(page.locator("#live-state")).to_have_class(re.compile("connected"))
    mark(page)
    shot(page, "05-workers-empty")

    endpoint = stack.endpoint(account)
    east = agents("east-01")
    east.register(endpoint, primary_key(people), "datacenter-east")
    run = east.start()
    worker_row = page.locator('tr[data-worker="east-01"]')
    expect(worker_row).to_be_visible(timeout=LIVE)
    expect(worker_row.locator(".status")).to_have_text("Online", timeout=LIVE)
    assert run.alive(), run.output()
    assert_not_reloaded(page)
    shot(page, "06-worker-online")

    # Delete is refused while the group has a worker: the dialog names it and tells how to remove it.
    page.locator(".breadcrumbs").get_by_role("link", name="datacenter-east").click()
    page.locator(".commandbar").get_by_role("link", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("cannot be deleted while it has workers")
    expect(dialog.locator("ul.members li")).to_have_text(["east-01"])
    expect(dialog.locator("#remove-line")).to_have_text(f"hybridworker remove --endpoint {endpoint} --token -")
    expect(dialog.locator(".buttons button")).to_have_text(["Close"])
    expect(dialog.get_by_role("button", name="Yes")).to_have_count(0)
    shot(page, "07-delete-refused")
    dialog.locator(".buttons").get_by_role("button", name="Close").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    # Remove the worker from its properties; a second tab on the group's workers list sees it go.
    workers_tab = open_live(context, f"/accounts/{account.pk}/groups/{group.pk}/workers/")
    expect(workers_tab.locator('tr[data-worker="east-01"]')).to_be_visible()
    page.locator("#group-tiles .tile", has_text="Hybrid workers").click()
    page.locator('tr[data-worker="east-01"]').get_by_role("link", name="east-01").click()
    expect(page.locator(".section-title")).to_contain_text("east-01")
    expect(page.locator(".essentials .status").first).to_have_text("Online")
    shot(page, "08-worker-properties")
    page.locator(".commandbar").get_by_role("link", name="Remove").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(
        "Are you sure you want to remove worker east-01 from hybrid worker group datacenter-east?"
    )
    shot(page, "09-remove-dialog")
    dialog.get_by_role("button", name="Yes").click()
    expect(page.locator(".infobar")).to_contain_text("Removed worker east-01 from datacenter-east.")
    assert run.popen.wait(timeout=60) == 3, run.output()
    assert "this worker was removed from group datacenter-east" in run.output()
    expect(workers_tab.locator('tr[data-worker="east-01"]')).to_have_count(0, timeout=LIVE)
    expect(workers_tab.locator("#workers-table")).to_contain_text("No workers in this group")
    assert_not_reloaded(workers_tab)
    shot(workers_tab, "10-worker-removed-live")
    workers_tab.close()

    # Delete the now empty group. The Celery worker is paused while the request is made, so the
    # panel shows the deletion in progress for certain before the task finishes it.
    page.locator(".breadcrumbs").get_by_role("link", name="datacenter-east").click()
    page.locator(".commandbar").get_by_role("link", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Are you sure you want to delete hybrid worker group “datacenter-east”?")
    shot(page, "11-delete-dialog")
    os.killpg(stack.celery.popen.pid, signal.SIGSTOP)
    try:
        dialog.get_by_role("button", name="Yes").click()
        expect(page.locator(".infobar")).to_contain_text("Deleting hybrid worker group datacenter-east")
        expect(page).to_have_url(re.compile(re.escape(groups_path) + "$"))
        expect(page.locator('tr[data-group="datacenter-east"] .pill')).to_have_text("Deleting…")
        mark(page)
        page.locator("#bell").click()
        panel = page.locator("#notifications-panel")
        expect(panel).to_be_visible()
        note = panel.locator(".note", has_text="Deleting hybrid worker group")
        expect(note).to_have_attribute("data-state", "in_progress")
        expect(note).to_contain_text('Deleting hybrid worker group "datacenter-east"…')
        note_id = note.get_attribute("data-notification")
        shot(page, "12-deleting-in-progress")
    finally:
        os.killpg(stack.celery.popen.pid, signal.SIGCONT)

    note = panel.locator(f'[data-notification="{note_id}"]')
    expect(note).to_have_attribute("data-state", "succeeded", timeout=LIVE)
    expect(note).to_contain_text("Deleted hybrid worker group datacenter-east")
    expect(page.locator('tr[data-group="datacenter-east"]')).to_have_count(0, timeout=LIVE)
    assert_not_reloaded(page)
    shot(page, "13-deleted")
    expect(groups_tab.locator('tr[data-group="datacenter-east"]')).to_have_count(0, timeout=LIVE)
    expect(groups_tab.locator("#groups-table")).to_contain_text("No hybrid worker groups yet")
    assert_not_reloaded(groups_tab)
    shot(groups_tab, "14-groups-list-after-delete")
    assert not HybridWorkerGroup.objects.filter(pk=group.pk).exists()


def test_a_stopped_agent_turns_offline_live_and_the_owner_is_told(context, stack, people, agents, shot):
    account = people.account
    west = agents("west-01")
    west.register(stack.endpoint(account), primary_key(people), "datacenter-west")
    run = west.start()
    group = HybridWorkerGroup.objects.get(account=account, name="datacenter-west")

    page = context.new_page()
    sign_in(page, people.owner.username, PASSWORD)
    expect(page.get_by_role("heading", name="Automation accounts")).to_be_visible()
    page.goto(f"/accounts/{account.pk}/groups/{group.pk}/workers/")
    expect(page.locator("#live-state")).to_have_class(re.compile("connected"))
    mark(page)
    row = page.locator('tr[data-worker="west-01"]')
    expect(row.locator(".status")).to_have_text("Online")
    shot(page, "01-online")

    run.stop(signal.SIGKILL)
    expect(row.locator(".status")).to_have_text("Offline", timeout=LIVE)
    expect(page.locator("#bell-count")).to_be_visible(timeout=LIVE)
    assert_not_reloaded(page)
    shot(page, "02-offline")

    page.locator("#bell").click()
    note = page.locator("#notifications-panel .note", has_text="Worker west-01 in group datacenter-west went offline")
    expect(note).to_be_visible(timeout=LIVE)
    expect(note).to_contain_text("Last heartbeat:")
    assert_not_reloaded(page)
    shot(page, "03-offline-notification")
