from django.urls import path, register_converter

from automation.api.management import runbook_views, views
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
    path("accounts/", views.AccountList.as_view(), name="account-list"),
    path(account, views.AccountDetail.as_view(), name="account-detail"),
    path(account + "groups/", views.GroupList.as_view(), name="group-list"),
    path(account + "groups/<name:group_name>/", views.GroupDetail.as_view(), name="group-detail"),
    path(account + "groups/<name:group_name>/workers/", views.GroupWorkerList.as_view(), name="group-workers"),
    path(account + "workers/<uuid:worker_id>/", views.WorkerDetail.as_view(), name="worker-detail"),
    path(account + "keys/<str:slot>/regenerate/", views.RegenerateKey.as_view(), name="key-regenerate"),
    path(account + "runbooks/", runbook_views.RunbookList.as_view(), name="runbook-list"),
    path(account + "runbooks/<name:runbook_name>/", runbook_views.RunbookDetail.as_view(), name="runbook-detail"),
    path(
        account + "runbooks/<name:runbook_name>/publish/",
        runbook_views.RunbookPublish.as_view(),
        name="runbook-publish",
    ),
    path(
        account + "runbooks/<name:runbook_name>/versions/",
        runbook_views.RunbookVersions.as_view(),
        name="runbook-versions",
    ),
    path(account + "jobs/", runbook_views.JobList.as_view(), name="job-list"),
    path(account + "jobs/<uuid:job_id>/", runbook_views.JobDetail.as_view(), name="job-detail"),
    path(account + "jobs/<uuid:job_id>/stop/", runbook_views.JobStop.as_view(), name="job-stop"),
    path(account + "jobs/<uuid:job_id>/streams/", runbook_views.JobStreams.as_view(), name="job-streams"),
    path("notifications/", views.NotificationList.as_view(), name="notification-list"),
    path("notifications/<uuid:notification_id>/", views.NotificationDetail.as_view(), name="notification-detail"),
]
