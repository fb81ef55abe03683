"""Django's `{# … #}` comment ends on its own line: one left open shows its text on the page."""

import re
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.sqlite

OPEN_COMMENT = re.compile(r"\{#(?![^\n]*#\})")


def templates() -> list[Path]:
    roots = [Path(directory) for directory in settings.TEMPLATES[0]["DIRS"]]
    return sorted(path for root in roots for path in root.rglob("*") if path.is_file())


def test_every_one_line_comment_closes_on_its_line():
    assert templates(), "no templates found"
    unclosed = [
        f"{path}:{text.count(chr(10), 0, match.start()) + 1}"
        for path in templates()
        for text in [path.read_text(errors="replace")]
        for match in OPEN_COMMENT.finditer(text)
    ]
    assert not unclosed, "use {% comment %} for comments over several lines: " + ", ".join(unclosed)


def test_a_page_shows_no_comment_text(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("reader", password="x" * 20))
    page = client.get("/").content.decode()
    assert "{#" not in page and "#}" not in page
