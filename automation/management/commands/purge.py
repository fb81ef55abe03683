from django.core.management.base import BaseCommand, CommandError

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
        # The bounds of RETENTION_BATCH_SIZE (portal/settings.py says why).
        if batch_size is not None and not 1 <= batch_size <= 10_000:
            raise CommandError(f"--batch-size must be from 1 to 10000, got {batch_size}")
        counts = purge_expired(batch_size=batch_size)
        for kind, count in counts.as_dict().items():
            self.stdout.write(f"{kind}: {count}")
