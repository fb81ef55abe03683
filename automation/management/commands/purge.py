from django.core.management.base import BaseCommand, CommandError

from automation.services.errors import InvalidInput
from automation.services.retention import purge_expired


class Command(BaseCommand):
    help = (
        "Delete, once, what is past its retention (RETENTION_JOB_DAYS, RETENTION_NOTIFICATION_DAYS, "
        "RETENTION_AUDIT_DAYS), as Celery beat does every RETENTION_SWEEP_SECONDS. Prints one "
        "'kind: count' line per kind."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=None, metavar="N", help="rows per transaction (RETENTION_BATCH_SIZE)"
        )

    def handle(self, *args, batch_size, **options):
        try:
            counts = purge_expired(batch_size=batch_size)
        except InvalidInput as error:
            raise CommandError(f"--batch-size {error.detail}") from None
        for kind, count in counts.as_dict().items():
            self.stdout.write(f"{kind}: {count}")
