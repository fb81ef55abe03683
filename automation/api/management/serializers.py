from django.utils import timezone
from rest_framework import serializers

from automation.api.agent.serializers import NameField
from automation.models import AutomationAccount, HybridWorker, HybridWorkerGroup, Notification
from automation.services.presence import is_online


class AccountSerializer(serializers.ModelSerializer):
    created = serializers.DateTimeField(source="created_at")
    role = serializers.CharField(help_text="Your role in this account: owner, operator or reader.")

    class Meta:
        model = AutomationAccount
        fields = ["id", "name", "region", "created", "role"]


class GroupSerializer(serializers.ModelSerializer):
    workers = serializers.IntegerField(source="worker_count", read_only=True)
    online = serializers.IntegerField(source="online_count", read_only=True)
    last_seen = serializers.DateTimeField(read_only=True, allow_null=True)
    created = serializers.DateTimeField(source="created_at", read_only=True)
    deleting = serializers.SerializerMethodField()

    class Meta:
        model = HybridWorkerGroup
        fields = ["id", "name", "workers", "online", "last_seen", "created", "deleting"]

    def get_deleting(self, group) -> bool:
        return group.deleting_since is not None


class GroupCreateSerializer(serializers.Serializer):
    name = NameField()


class WorkerSerializer(serializers.ModelSerializer):
    group = serializers.CharField(source="group.name")
    status = serializers.SerializerMethodField()
    last_seen = serializers.DateTimeField(source="last_seen_at", allow_null=True)
    registered = serializers.DateTimeField(source="registered_at")

    class Meta:
        model = HybridWorker
        fields = ["id", "name", "group", "status", "last_seen", "registered", "ip", "os", "version", "facts"]

    def get_status(self, worker) -> str:
        now = self.context.setdefault("now", timezone.now())
        return "Online" if is_online(worker, now) else "Offline"


class RegeneratedKeySerializer(serializers.Serializer):
    slot = serializers.CharField()
    key = serializers.CharField(help_text="The new key. The other key keeps working.")


class NotificationSerializer(serializers.ModelSerializer):
    created = serializers.DateTimeField(source="created_at")
    updated = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Notification
        fields = ["id", "account", "title", "message", "level", "state", "created", "updated"]


class DeletionAcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    notification = serializers.UUIDField(help_text="Watch this notification for the outcome.")
    notification_url = serializers.CharField()
