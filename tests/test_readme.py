"""The README's introduction says what works today, and only that: it promises nothing for later, names
every blade of the account menu and every agent command, and each other feature it names exists."""

import argparse
import re
import uuid
from pathlib import Path

import pytest
from django.urls import reverse

from workers.cli import build_parser

# Not in the SQLite pass (no `sqlite` mark): nothing here reaches the suite's database.

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ACCOUNT_MENU = ROOT / "templates" / "shell" / "account_blade.html"

# What the intro claims besides the blades and the agent, each with the route (and its ids) that makes it true.
FEATURES = {
    "sign-in": ("login", []),
    "Notifications": ("portal:notifications", []),
    "Django admin": ("admin:index", []),
    "/healthz": ("healthz", []),
    "Test pane": ("portal:runbook_test", ["account_id", "runbook_id"]),
    "Stop": ("portal:job_stop", ["account_id", "job_id"]),
    "management API": ("api-docs", []),
    "API tokens": ("portal:token_new", []),
    "OpenAPI schema": ("schema", []),
}
# Words that promise rather than describe.
PROMISES = re.compile(
    r"\bcomes? next\b|\bcoming\b|\bnot yet\b|\bplanned\b|\bwill (be|come|follow)\b|\bsoon\b|\bTODO\b|\blater\b",
    re.IGNORECASE,
)


def intro() -> str:
    """The text between the title and the first section."""
    text = README.read_text()
    return text.split("\n## ", 1)[0].split("\n", 1)[1]


def named(claim: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(claim)}(?!\w)", intro(), re.IGNORECASE) is not None


def menu_blades() -> list[str]:
    menu = re.search(r'<nav class="blade-menu".*?</nav>', ACCOUNT_MENU.read_text(), re.DOTALL).group(0)
    return [name.strip() for name in re.findall(r"</svg>([^<]+)</a>", menu)]


def agent_commands() -> set[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(subparsers.choices)


def test_the_intro_promises_nothing_for_later():
    promises = [m.group(0) for m in PROMISES.finditer(intro())]

    assert promises == [], "the intro describes what works today; promises belong in the open issues"


def test_the_intro_names_every_blade_of_the_account_menu():
    blades = menu_blades()

    assert {"Overview", "Runbooks", "Jobs"} <= set(blades)  # the menu was read
    missing = [blade for blade in blades if not named(blade)]
    assert missing == []


def test_the_intro_names_exactly_the_agents_commands():
    listed = re.search(r"`hybridworker` agent \(([^)]*)\)", intro())

    assert listed is not None, "the intro lists the agent's commands in parentheses"
    assert {name.strip() for name in listed.group(1).split(",")} == agent_commands()


@pytest.mark.parametrize("claim, route, ids", [(claim, *target) for claim, target in FEATURES.items()])
def test_each_feature_the_intro_names_exists(claim, route, ids):
    reverse(route, kwargs={name: uuid.uuid4() for name in ids})  # NoReverseMatch if the feature is gone

    assert named(claim)
