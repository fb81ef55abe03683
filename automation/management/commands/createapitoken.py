from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from automation.services.actor import Actor
from automation.services.errors import ServiceError
from automation.services.tokens import create_token


class Command(BaseCommand):
    help = "Create a personal API token for USERNAME and print it (alone) on stdout. It is shown only once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--expires-days", type=int, default=None, metavar="N")
        parser.add_argument("--name", default="created with manage.py createapitoken")

    def handle(self, *args, username, expires_days, name, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"There is no active user named {username!r}.")
        try:
            new = create_token(user=user, name=name, expires_days=expires_days, actor=Actor.for_system())
        except ServiceError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(new.plain)
