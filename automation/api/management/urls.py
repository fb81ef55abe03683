from django.urls import path, register_converter

from automation.api.management import accounts, groups, jobs, keys, notifications, runbooks, workers
from automation.validators import NAME_PATTERN, is_name


class NameConverter:
    """A group's or a runbook's name in a path. What no name can be (a NUL, a control character) matches
    no route and is answered 404 like any unknown path, before a query that PostgreSQL would refuse."""

    regex = NAME_PATTERN

    def to_python(self, value: str) -> str:
        if not is_name(value):
            raise ValueError(value)
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(NameConverter, "name")

app_name = "api"

account = "accounts/<uuid:account_id>/"

urlpatterns = [
    path("accounts/", accounts.AccountList.as_view(), name="account-list"),
    path(account, accounts.AccountDetail.as_view(), name="account-detail"),
    path(account + "groups/", groups.GroupList.as_view(), name="group-list"),
    path(account + "groups/<name:group_name>/", groups.GroupDetail.as_view(), name="group-detail"),
    path(account + "groups/<name:group_name>/workers/", workers.GroupWorkerList.as_view(), name="group-workers"),
    path(account + "workers/<uuid:worker_id>/", workers.WorkerDetail.as_view(), name="worker-detail"),
    path(account + "keys/<str:slot>/regenerate/", keys.RegenerateKey.as_view(), name="key-regenerate"),
    path(account + "runbooks/", runbooks.RunbookList.as_view(), name="runbook-list"),
    path(account + "runbooks/<name:runbook_name>/", runbooks.RunbookDetail.as_view(), name="runbook-detail"),
    path(
        account + "runbooks/<name:runbook_name>/publish/",
        runbooks.RunbookPublish.as_view(),
        name="runbook-publish",
    ),
    path(
        account + "runbooks/<name:runbook_name>/versions/",
        runbooks.RunbookVersions.as_view(),
        name="runbook-versions",
    ),
    path(account + "jobs/", jobs.JobList.as_view(), name="job-list"),
    path(account + "jobs/<uuid:job_id>/", jobs.JobDetail.as_view(), name="job-detail"),
    path(account + "jobs/<uuid:job_id>/stop/", jobs.JobStop.as_view(), name="job-stop"),
    path(account + "jobs/<uuid:job_id>/streams/", jobs.JobStreams.as_view(), name="job-streams"),
    path("notifications/", notifications.NotificationList.as_view(), name="notification-list"),
    path(
        "notifications/<uuid:notification_id>/", notifications.NotificationDetail.as_view(), name="notification-detail"
    ),
]
