"""What the management API tests share: an account with a worker in a group, an empty group, another
account's worker and a notification; clients by role and credential."""

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from django.conf import settings
from rest_framework.test import APIClient

from automation.models import HybridWorker, Notification
from automation.services.actor import Actor
from automation.services.groups import create_group
from automation.services.notifications import create_notification
from automation.services.tokens import create_token
from automation.services.workers import register_worker

GROUP = "lab linux.v2_x-1"  # every character a name may hold
WORKER_FIELDS = {"id", "name", "group", "status", "last_seen", "registered", "ip", "os", "version", "facts"}
ROLES = ["owner", "operator", "reader", "stranger"]
FACTS = {"os": "Debian GNU/Linux 12", "ip_addresses": ["10.0.0.5"], "agent_version": "1.0.0", "cpu_count": 2}


@dataclass
class World:
    people: Any
    worker: HybridWorker
    other_worker: HybridWorker
    notification: Notification
    extra: dict = field(default_factory=dict)

    @property
    def account(self):
        return self.people.account


def make_world(people) -> World:
    system = Actor.for_system()
    worker = register_worker(
        account=people.account, group_name=GROUP, machine_id="machine-0001", name="web-01", facts=FACTS
    ).worker
    other_worker = register_worker(
        account=people.other_account, group_name="b-lab", machine_id="machine-b-0001", name="b-01", facts={}
    ).worker
    create_group(account=people.account, name="empty group", actor=system)
    notification = create_notification(account=people.account, title="Something happened")
    return World(people=people, worker=worker, other_worker=other_worker, notification=notification)


def token_for(user) -> str:
    return create_token(user=user, name="tests", expires_days=None, actor=Actor.for_system()).plain


def api_client(user, auth: str, *, csrf: bool = True) -> APIClient:
    """A client for `user`: "token" (Bearer), "session" (signed in; CSRF token sent when csrf) or "anonymous"."""
    client = APIClient(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.20")
    if auth == "token":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    elif auth == "session":
        client.force_login(user)
        if csrf:
            secret = secrets.token_hex(16)
            client.cookies[settings.CSRF_COOKIE_NAME] = secret
            client.credentials(HTTP_X_CSRFTOKEN=secret)
    return client


def account_url(world: World, rest: str = "") -> str:
    return f"/api/v1/accounts/{world.account.pk}/{rest}"


def group_url(name: str, world: World, rest: str = "") -> str:
    return account_url(world, f"groups/{quote(name)}/{rest}")
