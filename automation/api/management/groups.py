"""Management API v1: hybrid worker groups (create, read, delete in the background)."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from automation.api import schema as openapi
from automation.api.errors import get_or_not_found
from automation.api.fields import NameField
from automation.api.management.scoping import AccountScoped
from automation.models import HybridWorkerGroup
from automation.queries.groups import groups_of
from automation.services import groups as group_services


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


class DeletionAcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    notification = serializers.UUIDField(help_text="Watch this notification for the outcome.")
    notification_url = serializers.CharField()


class GroupScoped(AccountScoped):
    def get_group(self):
        name = self.kwargs["group_name"]
        detail = f"Hybrid worker group '{name}' was not found in this Automation account."
        return get_or_not_found(groups_of(self.get_account()), detail, name=name)


@extend_schema(tags=["groups"])
@extend_schema_view(get=extend_schema(**openapi.listing(GroupSerializer)))
class GroupList(AccountScoped, generics.ListAPIView):
    serializer_class = GroupSerializer

    def get_queryset(self):
        return groups_of(self.get_account()).order_by("name")

    @extend_schema(
        request=GroupCreateSerializer,
        responses={
            201: GroupSerializer,
            **openapi.errors(*openapi.MANAGEMENT_WRITE, 409, _409="A group of that name exists in the account."),
        },
    )
    def post(self, request, account_id):
        data = GroupCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = group_services.create_group(
            account=self.get_account(), name=data.validated_data["name"], actor=self.actor()
        )
        group = groups_of(self.get_account()).get(pk=group.pk)
        return Response(GroupSerializer(group).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["groups"])
@extend_schema_view(get=extend_schema(**openapi.reading(GroupSerializer)))
class GroupDetail(GroupScoped, generics.RetrieveAPIView):
    serializer_class = GroupSerializer

    def get_object(self):
        return self.get_group()

    @extend_schema(
        responses={
            202: DeletionAcceptedSerializer,
            **openapi.errors(
                *openapi.MANAGEMENT_ACTION, 409, _409="The group still has workers, or is being deleted already."
            ),
        },
        description="Deletes the group in the background; watch the returned notification for the outcome.",
    )
    def delete(self, request, account_id, group_name):
        self.get_group()  # the same 404 as a GET
        notification = group_services.request_group_deletion(
            account=self.get_account(), group_name=group_name, actor=self.actor()
        )
        body = {
            "detail": f"Deleting hybrid worker group {group_name!r}.",
            "notification": notification.pk,
            "notification_url": reverse("api:notification-detail", kwargs={"notification_id": notification.pk}),
        }
        return Response(DeletionAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)
