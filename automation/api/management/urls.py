from django.urls import path

from automation.api.management import runbook_views, views

app_name = "api"

account = "accounts/<uuid:account_id>/"

urlpatterns = [
    path("accounts/", views.AccountList.as_view(), name="account-list"),
    path(account, views.AccountDetail.as_view(), name="account-detail"),
    path(account + "groups/", views.GroupList.as_view(), name="group-list"),
    path(account + "groups/<str:group_name>/", views.GroupDetail.as_view(), name="group-detail"),
    path(account + "groups/<str:group_name>/workers/", views.GroupWorkerList.as_view(), name="group-workers"),
    path(account + "workers/<uuid:worker_id>/", views.WorkerDetail.as_view(), name="worker-detail"),
    path(account + "keys/<str:slot>/regenerate/", views.RegenerateKey.as_view(), name="key-regenerate"),
    path(account + "runbooks/", runbook_views.RunbookList.as_view(), name="runbook-list"),
    path(account + "runbooks/<str:runbook_name>/", runbook_views.RunbookDetail.as_view(), name="runbook-detail"),
    path(
        account + "runbooks/<str:runbook_name>/publish/", runbook_views.RunbookPublish.as_view(), name="runbook-publish"
    ),
    path(
        account + "runbooks/<str:runbook_name>/versions/",
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
