from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from automation.api import webhooks as webhook_calls
from automation.api.errors import no_such_operation
from automation.api.middleware import api_csrf_failure, api_error_view
from portal.views import (
    access,
    activity,
    auth,
    certificates,
    connections,
    credentials,
    errors,
    favicon,
    groups,
    health,
    home,
    jobs,
    keys,
    notifications,
    overview,
    profile,
    runbooks,
    schedules,
    variables,
    webhooks,
    workers,
)

app_name = "portal"

portal_patterns = [
    path("", home.home, name="home"),
    path("accounts/create/", home.create, name="create_account"),
    path("accounts/<uuid:account_id>/", overview.overview, name="overview"),
    path("accounts/<uuid:account_id>/activity/", activity.activity, name="activity"),
    path("accounts/<uuid:account_id>/access/", access.members, name="access"),
    path("accounts/<uuid:account_id>/access/add/", access.add, name="access_add"),
    path("accounts/<uuid:account_id>/access/<int:membership_id>/role/", access.change_role, name="access_role"),
    path("accounts/<uuid:account_id>/access/<int:membership_id>/remove/", access.remove, name="access_remove"),
    path("profile/", profile.profile, name="profile"),
    path("profile/tokens/new/", profile.new_token, name="token_new"),
    path("profile/tokens/<int:token_id>/revoke/", profile.revoke_token, name="token_revoke"),
    path("accounts/<uuid:account_id>/keys/", keys.keys, name="keys"),
    path("accounts/<uuid:account_id>/keys/reveal/", keys.reveal, name="keys_reveal"),
    path("accounts/<uuid:account_id>/keys/<str:slot>/regenerate/", keys.regenerate, name="keys_regenerate"),
    path("accounts/<uuid:account_id>/groups/", groups.groups, name="groups"),
    path("accounts/<uuid:account_id>/groups/add/", groups.add, name="group_add"),
    path("accounts/<uuid:account_id>/groups/<uuid:group_id>/", groups.group, name="group"),
    path("accounts/<uuid:account_id>/groups/<uuid:group_id>/delete/", groups.delete, name="group_delete"),
    path("accounts/<uuid:account_id>/groups/<uuid:group_id>/run-as/", groups.run_as, name="group_run_as"),
    path("accounts/<uuid:account_id>/groups/<uuid:group_id>/add-worker/", groups.add_worker, name="group_add_worker"),
    path("accounts/<uuid:account_id>/groups/<uuid:group_id>/workers/", workers.group_workers, name="group_workers"),
    path("accounts/<uuid:account_id>/workers/<uuid:worker_id>/", workers.worker, name="worker"),
    path("accounts/<uuid:account_id>/workers/<uuid:worker_id>/remove/", workers.remove, name="worker_remove"),
    path("accounts/<uuid:account_id>/runbooks/", runbooks.runbooks, name="runbooks"),
    path("accounts/<uuid:account_id>/runbooks/create/", runbooks.create, name="runbook_create"),
    path("accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/", runbooks.runbook, name="runbook"),
    path("accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/publish/", runbooks.publish, name="runbook_publish"),
    path("accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/delete/", runbooks.delete, name="runbook_delete"),
    path("accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/start/", runbooks.start, name="runbook_start"),
    path("accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/test/", runbooks.test_pane, name="runbook_test"),
    path(
        "accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/test/<uuid:job_id>/",
        runbooks.test_pane_output,
        name="runbook_test_output",
    ),
    path(
        "accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/test/<uuid:job_id>/stop/",
        runbooks.test_pane_stop,
        name="runbook_test_stop",
    ),
    path("accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/webhooks/add/", webhooks.add, name="webhook_add"),
    path(
        "accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/webhooks/<uuid:webhook_id>/",
        webhooks.webhook,
        name="webhook",
    ),
    path(
        "accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/webhooks/<uuid:webhook_id>/extend/",
        webhooks.extend,
        name="webhook_extend",
    ),
    path(
        "accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/webhooks/<uuid:webhook_id>/rotate/",
        webhooks.rotate,
        name="webhook_rotate",
    ),
    path(
        "accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/webhooks/<uuid:webhook_id>/signing/",
        webhooks.signing,
        name="webhook_signing",
    ),
    path(
        "accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/webhooks/<uuid:webhook_id>/delete/",
        webhooks.delete,
        name="webhook_delete",
    ),
    path("accounts/<uuid:account_id>/jobs/", jobs.jobs, name="jobs"),
    path("accounts/<uuid:account_id>/jobs/<uuid:job_id>/", jobs.job, name="job"),
    path("accounts/<uuid:account_id>/jobs/<uuid:job_id>/streams/", jobs.streams, name="job_streams"),
    path("accounts/<uuid:account_id>/jobs/<uuid:job_id>/stop/", jobs.stop, name="job_stop"),
    path("accounts/<uuid:account_id>/variables/", variables.variables, name="variables"),
    path("accounts/<uuid:account_id>/variables/add/", variables.add, name="variable_add"),
    path("accounts/<uuid:account_id>/variables/<uuid:variable_id>/", variables.variable, name="variable"),
    path(
        "accounts/<uuid:account_id>/variables/<uuid:variable_id>/encrypt/", variables.encrypt, name="variable_encrypt"
    ),
    path("accounts/<uuid:account_id>/variables/<uuid:variable_id>/delete/", variables.delete, name="variable_delete"),
    path("accounts/<uuid:account_id>/credentials/", credentials.credentials, name="credentials"),
    path("accounts/<uuid:account_id>/credentials/add/", credentials.add, name="credential_add"),
    path("accounts/<uuid:account_id>/credentials/<uuid:credential_id>/", credentials.credential, name="credential"),
    path(
        "accounts/<uuid:account_id>/credentials/<uuid:credential_id>/delete/",
        credentials.delete,
        name="credential_delete",
    ),
    path("accounts/<uuid:account_id>/certificates/", certificates.certificates, name="certificates"),
    path("accounts/<uuid:account_id>/certificates/add/", certificates.add, name="certificate_add"),
    path(
        "accounts/<uuid:account_id>/certificates/<uuid:certificate_id>/", certificates.certificate, name="certificate"
    ),
    path(
        "accounts/<uuid:account_id>/certificates/<uuid:certificate_id>/delete/",
        certificates.delete,
        name="certificate_delete",
    ),
    path("accounts/<uuid:account_id>/connections/", connections.connections, name="connections"),
    path("accounts/<uuid:account_id>/connections/add/", connections.add, name="connection_add"),
    path("accounts/<uuid:account_id>/connections/<uuid:connection_id>/", connections.connection, name="connection"),
    path(
        "accounts/<uuid:account_id>/connections/<uuid:connection_id>/delete/",
        connections.delete,
        name="connection_delete",
    ),
    path("accounts/<uuid:account_id>/connection-types/", connections.connection_types, name="connection_types"),
    path("accounts/<uuid:account_id>/schedules/", schedules.schedules, name="schedules"),
    path("accounts/<uuid:account_id>/schedules/add/", schedules.add, name="schedule_add"),
    path("accounts/<uuid:account_id>/schedules/preview/", schedules.preview, name="schedule_preview"),
    path("accounts/<uuid:account_id>/schedules/<uuid:schedule_id>/", schedules.schedule, name="schedule"),
    path("accounts/<uuid:account_id>/schedules/<uuid:schedule_id>/enable/", schedules.enable, name="schedule_enable"),
    path("accounts/<uuid:account_id>/schedules/<uuid:schedule_id>/delete/", schedules.delete, name="schedule_delete"),
    path("accounts/<uuid:account_id>/schedules/<uuid:schedule_id>/link/", schedules.link_runbook, name="schedule_link"),
    path(
        "accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/schedules/",
        schedules.runbook_schedules,
        name="runbook_schedules",
    ),
    path(
        "accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/schedules/link/",
        schedules.runbook_link,
        name="runbook_schedule_link",
    ),
    path(
        "accounts/<uuid:account_id>/runbooks/<uuid:runbook_id>/schedules/<uuid:link_id>/unlink/",
        schedules.runbook_unlink,
        name="runbook_schedule_unlink",
    ),
    path("accounts/<uuid:account_id>/connection-types/add/", connections.add_type, name="connection_type_add"),
    path(
        "accounts/<uuid:account_id>/connection-types/<uuid:connection_type_id>/delete/",
        connections.delete_type,
        name="connection_type_delete",
    ),
    path("notifications/", notifications.panel, name="notifications"),
    path("notifications/bell/", notifications.bell, name="notifications_bell"),
    path("notifications/read/", notifications.mark_read, name="notifications_read"),
    path("notifications/dismiss/", notifications.dismiss_all, name="notifications_dismiss"),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("favicon.ico", favicon.favicon, name="favicon"),
    path("agentsvc/", include("automation.api.agent.urls")),
    path("api/v1/", include("automation.api.management.urls")),
    # Public, so they take no credentials: an Authorization header meant for the API is ignored,
    # not refused (nor counted as a failed login).
    path(
        "api/schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]),
        name="schema",
    ),
    path(
        "api/docs/",
        # The split view serves its start-up script as a file: the Content-Security-Policy allows no inline one.
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", authentication_classes=[], permission_classes=[AllowAny]
        ),
        name="api-docs",
    ),
    # A webhook's URL, as shown at its creation (a trailing slash is taken too: callers add one).
    re_path(r"^webhooks/(?P<webhook_id>[^/]+)/?$", webhook_calls.call, name="webhook-call"),
    re_path(r"^(agentsvc|api|webhooks)(/|$)", no_such_operation),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include((portal_patterns, "portal"))),
]

# Django's error views: the portal's pages, or the APIs' JSON error under /agentsvc/ and /api/.
handler400 = api_error_view(errors.bad_request)
handler403 = api_error_view(errors.permission_denied)
handler404 = api_error_view(errors.page_not_found)
handler500 = api_error_view(errors.server_error)
csrf_failure = api_csrf_failure(errors.csrf_failure)  # settings.CSRF_FAILURE_VIEW
