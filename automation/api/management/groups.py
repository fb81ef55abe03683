"""Management API v1: hybrid worker groups (create, read, change their settings, delete in the background)."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from automation.api import schema as openapi
from automation.api.errors import get_or_not_found
from automation.api.fields import NameField
from automation.api.management.assets import Body
from automation.api.management.scoping import AccountScoped
from automation.models import HybridWorkerGroup, Role
from automation.queries.groups import groups_of
from automation.services import groups as group_services
from automation.services.access import require_role
from automation.validators import NAME_MAX_LENGTH


class GroupSerializer(serializers.ModelSerializer):
    workers = serializers.IntegerField(source="worker_count", read_only=True)
    online = serializers.IntegerField(source="online_count", read_only=True)
    last_seen = serializers.DateTimeField(read_only=True, allow_null=True)
    created = serializers.DateTimeField(source="created_at", read_only=True)
    deleting = serializers.SerializerMethodField()
    run_as_credential = serializers.SerializerMethodField(
        help_text="Hybrid worker group settings: the credential whose user name the group's jobs run as; "
        "null: each agent's default user."
    )

    class Meta:
        model = HybridWorkerGroup
        fields = ["id", "name", "workers", "online", "last_seen", "created", "deleting", "run_as_credential"]

    def get_deleting(self, group) -> bool:
        return group.deleting_since is not None

    def get_run_as_credential(self, group) -> str | None:
        return group.run_as_credential.name if group.run_as_credential is not None else None


@extend_schema_field(
    {"type": "string", "nullable": True, "minLength": 1, "maxLength": NAME_MAX_LENGTH, "pattern": openapi.NAME_PATTERN}
)
class RunAsField(serializers.JSONField):
    """Any JSON, handed to the service, which says what is wrong with it (a number is not a name)."""


class GroupUpdateSerializer(Body):
    run_as_credential = RunAsField(
        required=False,
        allow_null=True,
        help_text="The name of a credential of the account whose user name the group's jobs run as (on agents "
        "started with `--allow-run-as` naming it), or null to run them as each agent's default user.",
    )


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
        request=GroupUpdateSerializer,
        responses={200: GroupSerializer, **openapi.errors(*openapi.MANAGEMENT_WRITE)},
        description="Hybrid worker group settings: `run_as_credential` names the credential the group's jobs "
        "run as, or null for the agent's default.",
    )
    def patch(self, request, account_id, group_name):
        group = self.get_group()  # the same 404 as a GET, before the body is looked at
        body = GroupUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if "run_as_credential" in body.validated_data:
            group_services.set_group_run_as(
                account=self.get_account(),
                group_name=group.name,
                credential_name=body.validated_data["run_as_credential"],
                actor=self.actor(),
            )
            group = self.get_group()
        else:
            # Nothing to change still tells a Reader that changing is not theirs.
            require_role(account=self.get_account(), actor=self.actor(), role=Role.OPERATOR)
        return Response(GroupSerializer(group).data)

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
