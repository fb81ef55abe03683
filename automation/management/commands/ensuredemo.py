import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from automation.models import AutomationAccount, Membership, Role
from automation.services.accounts import add_member, create_account
from automation.services.actor import Actor
from automation.services.keys import agent_service_url, reveal_keys

DEMO_ACCOUNT = "demo-automation"
ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "Create, once, the demo Automation account and an admin login whose generated password is "
        "kept in var/. Prints the login as JSON. Safe to run again."
    )

    def handle(self, *args, **options):
        password_file = Path(settings.VAR_DIR) / "secrets" / "admin_password"
        with transaction.atomic():
            user, note = self._ensure_admin(password_file)
            account = AutomationAccount.objects.filter(name=DEMO_ACCOUNT).first()
            if account is None:
                account = create_account(name=DEMO_ACCOUNT, owner=user, actor=Actor.for_system())
            elif not Membership.objects.filter(account=account, user=user).exists():
                add_member(account=account, username=user.get_username(), role=Role.OWNER, actor=Actor.for_system())
        # The local demo prints its own key so a newcomer can register a worker at once.
        primary = reveal_keys(account=account, actor=Actor.for_system())["primary"]
        self.stdout.write(
            json.dumps(
                {
                    "username": user.get_username(),
                    "password": note,
                    "account_id": str(account.pk),
                    "endpoint": agent_service_url(account),
                    "key": primary,
                }
            )
        )

    def _ensure_admin(self, password_file: Path):
        User = get_user_model()
        user = User.objects.filter(username=ADMIN_USERNAME).first()
        stored = password_file.read_text().strip() if password_file.exists() else None
        if user is None:
            password = stored or secrets.token_urlsafe(12)
            user = User.objects.create_superuser(ADMIN_USERNAME, email="", password=password)
            if not stored:
                password_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(password + "\n")
            return user, password
        if stored and user.check_password(stored):
            return user, stored
        return user, None
