from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from automation.services.accounts import create_account
from automation.services.actor import Actor
from automation.services.errors import ServiceError


class Command(BaseCommand):
    help = "Create an Automation account with USERNAME as its first Owner."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, metavar="USERNAME")
        parser.add_argument("--region", default=None)

    def handle(self, *args, name, owner, region, **options):
        user = get_user_model().objects.filter(username=owner, is_active=True).first()
        if user is None:
            raise CommandError(f"There is no active user named {owner!r}.")
        try:
            account = create_account(name=name, owner=user, region=region, actor=Actor.for_system())
        except ServiceError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(f"Created Automation account {account.name} ({account.pk}) owned by {owner}.")
