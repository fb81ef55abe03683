from django.db import migrations, models


def child_jobs_were_started_by_their_parent(apps, schema_editor):
    jobs = apps.get_model("automation", "Job").objects
    for job in jobs.filter(parent__isnull=False).only("pk", "parent_id").iterator():
        jobs.filter(pk=job.pk).update(started_by_kind="parent", started_by=str(job.parent_id))


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0009_job_parent"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="started_by_kind",
            field=models.CharField(
                choices=[
                    ("user", "User"),
                    ("api", "API"),
                    ("schedule", "Schedule"),
                    ("webhook", "Webhook"),
                    ("parent", "Parent job"),
                ],
                default="user",
                max_length=16,
            ),
        ),
        migrations.RunPython(child_jobs_were_started_by_their_parent, migrations.RunPython.noop),
    ]
