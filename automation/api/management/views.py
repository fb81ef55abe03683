"""Management API v1: the portal's operations, through the same services and role rules."""

from django.urls import reverse
from django.utils.cache import patch_cache_control
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from automation.api import schema as openapi
from automation.api.errors import get_or_not_found
from automation.api.management import serializers as s
from automation.queries.accounts import account_of, accounts_of
from automation.queries.groups import groups_of
from automation.queries.notifications import visible_to
from automation.queries.workers import workers_of
from automation.services import groups as group_services
from automation.services import keys as key_services
from automation.services import workers as worker_services
from automation.services.actor import Actor
from automation.services.errors import NotFound


class AccountScoped:
    """Resolves {account_id} for a member; anyone else gets 404 so account ids do not leak."""

    def get_account(self):
        if not hasattr(self, "_account"):
            account = account_of(self.request.user, self.kwargs["account_id"])
            if account is None:
                account_id = self.kwargs["account_id"]
                raise NotFound(f"Automation account {account_id} was not found, or you are not a member of it.")
            self._account = account
        return self._account

    def get_group(self):
        name = self.kwargs["group_name"]
        detail = f"Hybrid worker group '{name}' was not found in this Automation account."
        return get_or_not_found(groups_of(self.get_account()), detail, name=name)

    def actor(self) -> Actor:
        return Actor.from_request(self.request)


@extend_schema(tags=["accounts"], **openapi.listing(s.AccountSerializer))
class AccountList(generics.ListAPIView):
    serializer_class = s.AccountSerializer

    def get_queryset(self):
        return accounts_of(self.request.user)


@extend_schema(tags=["accounts"], **openapi.reading(s.AccountSerializer))
class AccountDetail(AccountScoped, generics.RetrieveAPIView):
    serializer_class = s.AccountSerializer

    def get_object(self):
        return self.get_account()


@extend_schema(tags=["groups"])
@extend_schema_view(get=extend_schema(**openapi.listing(s.GroupSerializer)))
class GroupList(AccountScoped, generics.ListAPIView):
    serializer_class = s.GroupSerializer

    def get_queryset(self):
        return groups_of(self.get_account()).order_by("name")

    @extend_schema(
        request=s.GroupCreateSerializer,
        responses={
            201: s.GroupSerializer,
            **openapi.errors(*openapi.MANAGEMENT_WRITE, 409, _409="A group of that name exists in the account."),
        },
    )
    def post(self, request, account_id):
        data = s.GroupCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = group_services.create_group(
            account=self.get_account(), name=data.validated_data["name"], actor=self.actor()
        )
        group = groups_of(self.get_account()).get(pk=group.pk)
        return Response(s.GroupSerializer(group).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["groups"])
@extend_schema_view(get=extend_schema(**openapi.reading(s.GroupSerializer)))
class GroupDetail(AccountScoped, generics.RetrieveAPIView):
    serializer_class = s.GroupSerializer

    def get_object(self):
        return self.get_group()

    @extend_schema(
        responses={
            202: s.DeletionAcceptedSerializer,
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
        return Response(s.DeletionAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["workers"], **openapi.listing(s.WorkerSerializer))
class GroupWorkerList(AccountScoped, generics.ListAPIView):
    serializer_class = s.WorkerSerializer

    def get_queryset(self):
        return workers_of(self.get_account()).filter(group=self.get_group())


@extend_schema(tags=["workers"])
@extend_schema_view(get=extend_schema(**openapi.reading(s.WorkerSerializer)))
class WorkerDetail(AccountScoped, generics.RetrieveAPIView):
    serializer_class = s.WorkerSerializer

    def get_object(self):
        worker_id = self.kwargs["worker_id"]
        detail = f"Hybrid worker {worker_id} was not found in this Automation account."
        return get_or_not_found(workers_of(self.get_account()), detail, pk=worker_id)

    @extend_schema(
        responses={204: None, **openapi.errors(*openapi.MANAGEMENT_ACTION)},
        description="Remove the worker; its credential stops working.",
    )
    def delete(self, request, account_id, worker_id):
        self.get_object()  # the same 404 as a GET
        worker_services.remove_worker(account=self.get_account(), worker_id=worker_id, actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class RegenerateKey(AccountScoped, APIView):
    @extend_schema(
        tags=["keys"],
        request=None,
        parameters=[openapi.KEY_SLOT],
        responses={200: s.RegeneratedKeySerializer, **openapi.errors(*openapi.MANAGEMENT_ACTION)},
        description="Owners only. The other key keeps working; registered workers stay connected.",
    )
    def post(self, request, account_id, slot):
        key = key_services.regenerate_key(account=self.get_account(), slot=slot, actor=self.actor())
        response = Response(s.RegeneratedKeySerializer({"slot": slot, "key": key}).data)
        patch_cache_control(response, no_store=True)  # it carries the new key
        return response


@extend_schema(tags=["notifications"], **openapi.listing(s.NotificationSerializer))
class NotificationList(generics.ListAPIView):
    serializer_class = s.NotificationSerializer

    def get_queryset(self):
        return visible_to(self.request.user).order_by("-created_at")


@extend_schema(tags=["notifications"], **openapi.reading(s.NotificationSerializer))
class NotificationDetail(generics.RetrieveAPIView):
    serializer_class = s.NotificationSerializer

    def get_object(self):
        notification_id = self.kwargs["notification_id"]
        detail = f"Notification {notification_id} was not found."
        return get_or_not_found(visible_to(self.request.user), detail, pk=notification_id)
