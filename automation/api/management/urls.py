from django.urls import path, register_converter

from automation.api.management import (
    accounts,
    certificates,
    connections,
    credentials,
    groups,
    jobs,
    keys,
    notifications,
    runbooks,
    schedules,
    variables,
    webhooks,
    workers,
)
from automation.validators import NAME_PATTERN, is_name


class NameConverter:
    """A group's, a runbook's or a shared resource's name in a path. What no name can be (a NUL, a control
    character) matches no route and is answered 404 like any unknown path, before a query that PostgreSQL
    would refuse."""

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
    path(account + "runbooks/<name:runbook_name>/webhooks/", webhooks.WebhookList.as_view(), name="webhook-list"),
    path(
        account + "runbooks/<name:runbook_name>/webhooks/<uuid:webhook_id>/",
        webhooks.WebhookDetail.as_view(),
        name="webhook-detail",
    ),
    path(
        account + "runbooks/<name:runbook_name>/webhooks/<uuid:webhook_id>/rotate/",
        webhooks.WebhookRotate.as_view(),
        name="webhook-rotate",
    ),
    path(
        account + "runbooks/<name:runbook_name>/webhooks/<uuid:webhook_id>/extend/",
        webhooks.WebhookExtend.as_view(),
        name="webhook-extend",
    ),
    path(
        account + "runbooks/<name:runbook_name>/webhooks/<uuid:webhook_id>/signing/",
        webhooks.WebhookSigning.as_view(),
        name="webhook-signing",
    ),
    path(
        account + "runbooks/<name:runbook_name>/schedules/",
        schedules.RunbookScheduleList.as_view(),
        name="runbook-schedules",
    ),
    path(
        account + "runbooks/<name:runbook_name>/schedules/<uuid:link_id>/",
        schedules.RunbookScheduleDetail.as_view(),
        name="runbook-schedule-detail",
    ),
    path(account + "schedules/", schedules.ScheduleList.as_view(), name="schedule-list"),
    path(account + "schedules/<name:schedule_name>/", schedules.ScheduleDetail.as_view(), name="schedule-detail"),
    path(
        account + "schedules/<name:schedule_name>/next-runs/",
        schedules.ScheduleNextRuns.as_view(),
        name="schedule-next-runs",
    ),
    path(account + "jobs/", jobs.JobList.as_view(), name="job-list"),
    path(account + "jobs/<uuid:job_id>/", jobs.JobDetail.as_view(), name="job-detail"),
    path(account + "jobs/<uuid:job_id>/stop/", jobs.JobStop.as_view(), name="job-stop"),
    path(account + "jobs/<uuid:job_id>/streams/", jobs.JobStreams.as_view(), name="job-streams"),
    path(account + "variables/", variables.VariableList.as_view(), name="variable-list"),
    path(account + "variables/<name:variable_name>/", variables.VariableDetail.as_view(), name="variable-detail"),
    path(account + "credentials/", credentials.CredentialList.as_view(), name="credential-list"),
    path(
        account + "credentials/<name:credential_name>/",
        credentials.CredentialDetail.as_view(),
        name="credential-detail",
    ),
    path(account + "certificates/", certificates.CertificateList.as_view(), name="certificate-list"),
    path(
        account + "certificates/<name:certificate_name>/",
        certificates.CertificateDetail.as_view(),
        name="certificate-detail",
    ),
    path(account + "connection-types/", connections.ConnectionTypeList.as_view(), name="connection-type-list"),
    path(
        account + "connection-types/<name:connection_type_name>/",
        connections.ConnectionTypeDetail.as_view(),
        name="connection-type-detail",
    ),
    path(account + "connections/", connections.ConnectionList.as_view(), name="connection-list"),
    path(
        account + "connections/<name:connection_name>/",
        connections.ConnectionDetail.as_view(),
        name="connection-detail",
    ),
    path("notifications/", notifications.NotificationList.as_view(), name="notification-list"),
    path(
        "notifications/<uuid:notification_id>/", notifications.NotificationDetail.as_view(), name="notification-detail"
    ),
]
