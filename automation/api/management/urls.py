from django.urls import path, re_path

from automation.api.errors import json_not_found
from automation.api.management import views

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
    path("notifications/", views.NotificationList.as_view(), name="notification-list"),
    path("notifications/<uuid:notification_id>/", views.NotificationDetail.as_view(), name="notification-detail"),
    re_path(r"^.*$", json_not_found),
]
