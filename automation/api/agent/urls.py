from django.urls import path, re_path

from automation.api.agent import downloads, jobs, views

app_name = "agent"

urlpatterns = [
    path("install.sh", downloads.install, name="install"),
    re_path(r"^(?P<filename>hybridworker-[^/]+\.whl)$", downloads.wheel, name="wheel"),
    path("accounts/<uuid:account_id>/v1/register", views.RegisterView.as_view(), name="register"),
    path("accounts/<uuid:account_id>/v1/heartbeat", views.HeartbeatView.as_view(), name="heartbeat"),
    path("accounts/<uuid:account_id>/v1/leave", views.LeaveView.as_view(), name="leave"),
    path("accounts/<uuid:account_id>/v1/deregister", views.DeregisterView.as_view(), name="deregister"),
    path("accounts/<uuid:account_id>/v1/jobs/next", jobs.NextJobsView.as_view(), name="jobs-next"),
    path("accounts/<uuid:account_id>/v1/jobs/<uuid:job_id>/records", jobs.JobRecordsView.as_view(), name="job-records"),
    path("accounts/<uuid:account_id>/v1/jobs/<uuid:job_id>/finish", jobs.JobFinishView.as_view(), name="job-finish"),
]
