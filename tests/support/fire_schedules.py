"""`python -m tests.support.fire_schedules GO_FILE MOMENT...`: a stand-in for a Celery worker running the beat's
tick, in a process of its own on the test's database, at travelled moments (ISO 8601). It says "ready" once
Django is up, waits for GO_FILE so that every racer starts together, ticks once at each moment and prints its
totals as JSON."""

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.server_settings")
    import django

    django.setup()
    from automation.services.schedule_firing import fire_due_schedules

    go, moments = Path(sys.argv[1]), [datetime.fromisoformat(m) for m in sys.argv[2:]]
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.01)
    totals: dict[str, int] = {}
    for moment in moments:
        for outcome, count in fire_due_schedules(now=moment).as_dict().items():
            totals[outcome] = totals.get(outcome, 0) + count
    print(json.dumps(totals), flush=True)


if __name__ == "__main__":
    main()
