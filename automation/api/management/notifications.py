"""Management API v1: the notifications you can see (the bell), across your accounts."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers

from automation.api import schema as openapi
from automation.api.errors import get_or_not_found
from automation.models import Notification
from automation.queries.notifications import visible_to


class NotificationSerializer(serializers.ModelSerializer):
    created = serializers.DateTimeField(source="created_at")
    updated = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Notification
        fields = ["id", "account", "title", "message", "level", "state", "created", "updated"]


@extend_schema(tags=["notifications"], **openapi.listing(NotificationSerializer))
class NotificationList(generics.ListAPIView):
    serializer_class = NotificationSerializer

    def get_queryset(self):
        return visible_to(self.request.user).order_by("-created_at")


@extend_schema(tags=["notifications"], **openapi.reading(NotificationSerializer))
class NotificationDetail(generics.RetrieveAPIView):
    serializer_class = NotificationSerializer

    def get_object(self):
        notification_id = self.kwargs["notification_id"]
        detail = f"Notification {notification_id} was not found."
        return get_or_not_found(visible_to(self.request.user), detail, pk=notification_id)
