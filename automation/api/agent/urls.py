from django.urls import path, re_path

# The <name:...> converter (the one name rule, as the management API's paths take names) is registered there.
import automation.api.management.urls  # noqa: F401
from automation.api.agent import assets, downloads, jobs, views

app_name = "agent"

job = "accounts/<uuid:account_id>/v1/jobs/<uuid:job_id>/"

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
    # What a running job's runbook reads and starts, relayed by its agent under the job's lease.
    path(job + "variables/<name:name>", assets.JobVariableView.as_view(), name="job-variable"),
    path(job + "credentials/<name:name>", assets.JobCredentialView.as_view(), name="job-credential"),
    path(job + "connections/<name:name>", assets.JobConnectionView.as_view(), name="job-connection"),
    path(job + "certificates/<name:name>", assets.JobCertificateView.as_view(), name="job-certificate"),
    path(job + "children", assets.JobChildrenView.as_view(), name="job-children"),
    path(job + "children/<uuid:child_id>", assets.JobChildView.as_view(), name="job-child"),
]
