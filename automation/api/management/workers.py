"""Management API v1: hybrid workers (the machines registered in a group)."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from automation.api import schema as openapi
from automation.api.errors import get_or_not_found
from automation.api.management.groups import GroupScoped
from automation.api.management.scoping import AccountScoped
from automation.models import HybridWorker
from automation.queries.workers import workers_of
from automation.services import workers as worker_services
from automation.services.presence import is_online, presence_label


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
        return presence_label(is_online(worker, now))


@extend_schema(tags=["workers"], **openapi.listing(WorkerSerializer))
class GroupWorkerList(GroupScoped, generics.ListAPIView):
    serializer_class = WorkerSerializer

    def get_queryset(self):
        return workers_of(self.get_account()).filter(group=self.get_group())


@extend_schema(tags=["workers"])
@extend_schema_view(get=extend_schema(**openapi.reading(WorkerSerializer)))
class WorkerDetail(AccountScoped, generics.RetrieveAPIView):
    serializer_class = WorkerSerializer

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
