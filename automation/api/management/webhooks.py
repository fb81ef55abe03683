"""Management API v1: a runbook's webhooks. The URL is in the answer that made it (create, rotate) and never
again; a signing secret likewise (create with `signed`, POST …/signing/)."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from automation.api import schema as openapi
from automation.api.management.assets import Body, BooleanValue, write_errors
from automation.api.management.job_fields import JSONValue
from automation.api.management.runbooks import RunbookScoped
from automation.models import Webhook
from automation.queries.webhooks import get_webhook, last_calls, webhooks_of
from automation.services import webhooks as webhook_services

MOMENT = {"type": "string", "format": "date-time", "description": "ISO 8601 with its UTC offset, in the future."}
TAG = "webhooks"


@extend_schema_field(MOMENT)
class MomentValue(serializers.JSONField):
    """Any JSON, handed to the service, which says what is wrong with it; the document states the rule."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "name: value, of the types the runbook declares (its published version's, else its draft's); "
        "not WebhookData, which each call fills. A secret sent back as ****** keeps its value.",
    }
)
class ParametersValue(JSONValue):
    pass


class WebhookSerializer(serializers.ModelSerializer):
    runbook = serializers.CharField(source="runbook.name", read_only=True)
    expired = serializers.SerializerMethodField(help_text="Past its expiry: calls are refused until it is extended.")
    signed = serializers.BooleanField(
        read_only=True, help_text="Calls must carry a Standard Webhooks signature (webhook-signature)."
    )
    uri = serializers.SerializerMethodField(
        help_text="The URL to call: only in the answer that made it (create, rotate); empty everywhere else."
    )
    last_call = serializers.SerializerMethodField()
    created = serializers.DateTimeField(source="created_at", read_only=True)
    updated = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Webhook
        fields = [
            "id",
            "name",
            "runbook",
            "enabled",
            "expiry_time",
            "expired",
            "parameters",
            "run_on",
            "signed",
            "uri",
            "last_call",
            "created",
            "created_by",
            "updated",
            "updated_by",
        ]
        read_only_fields = fields

    def get_expired(self, webhook) -> bool:
        return webhook.is_expired()

    def get_uri(self, webhook) -> str:
        return self.context.get("uri", "")

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {
                "time": {"type": "string", "format": "date-time"},
                "outcome": {"type": "string"},
                "accepted": {"type": "boolean"},
            },
            "description": "The last call: when, and what came of it (the job it started, or why it was refused).",
        }
    )
    def get_last_call(self, webhook):
        calls = self.context.get("last_calls")
        call = (calls if calls is not None else last_calls([webhook])).get(webhook.pk)
        if call is None:
            return None
        return {
            "time": serializers.DateTimeField().to_representation(call.at),
            "outcome": call.outcome,
            "accepted": call.accepted,
        }


class IssuedWebhookSerializer(WebhookSerializer):
    signing_secret = serializers.SerializerMethodField(
        help_text="The signing secret (whsec_…), when this answer made one: shown this once."
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "signing_secret"]
        read_only_fields = fields

    def get_signing_secret(self, webhook) -> str:
        return self.context.get("signing_secret", "")


def issued_answer(issued: webhook_services.Issued, **options) -> Response:
    context = {"uri": issued.uri, "signing_secret": issued.signing_secret}
    return Response(IssuedWebhookSerializer(issued.webhook, context=context).data, **options)


class WebhookCreate(Body):
    name = openapi.NameSchemaField()
    run_on = openapi.NameSchemaField(help_text="The hybrid worker group its jobs run on.")
    enabled = BooleanValue(required=False, default=True)
    expiry_time = MomentValue(required=False, default=None, help_text="Default: one year from now.")
    parameters = ParametersValue(required=False, default=dict)
    signed = BooleanValue(required=False, default=False, help_text="Calls must be signed; the answer has the secret.")


class WebhookUpdate(Body):
    name = openapi.NameSchemaField(required=False)
    enabled = BooleanValue(required=False)
    parameters = ParametersValue(required=False)
    run_on = openapi.NameSchemaField(required=False, help_text="The hybrid worker group its jobs run on.")


class WebhookExtendBody(Body):
    expiry_time = MomentValue()


class WebhookScoped(RunbookScoped):
    def get_webhook(self):
        return get_webhook(self.get_runbook(), self.kwargs["webhook_id"])


@extend_schema(tags=[TAG])
class WebhookList(RunbookScoped, generics.ListAPIView):
    serializer_class = WebhookSerializer

    def get_queryset(self):
        return webhooks_of(self.get_runbook())

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        # One Redis round trip for the refused calls of the whole page.
        self._last_calls = last_calls(list(page if page is not None else queryset))
        return page

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "last_calls": getattr(self, "_last_calls", None)}

    @extend_schema(**openapi.listing(WebhookSerializer))
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=WebhookCreate,
        responses={
            201: IssuedWebhookSerializer,
            **write_errors("The runbook has a webhook of that name (whatever its case)."),
        },
        description="The answer alone carries the webhook's `uri` (and `signing_secret` when `signed`): keep them.",
    )
    def post(self, request, account_id, runbook_name):
        runbook = self.get_runbook()
        body = WebhookCreate(data=request.data)
        body.is_valid(raise_exception=True)
        issued = webhook_services.create_webhook(runbook=runbook, actor=self.actor(), **body.validated_data)
        return issued_answer(issued, status=status.HTTP_201_CREATED)


@extend_schema(tags=[TAG])
class WebhookDetail(WebhookScoped, generics.RetrieveAPIView):
    serializer_class = WebhookSerializer

    def get_object(self):
        return self.get_webhook()

    @extend_schema(**openapi.reading(WebhookSerializer))
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=WebhookUpdate,
        responses={
            200: WebhookSerializer,
            **write_errors("The runbook has a webhook of that name (whatever its case)."),
        },
    )
    def patch(self, request, account_id, runbook_name, webhook_id):
        webhook = self.get_webhook()
        body = WebhookUpdate(data=request.data)
        body.is_valid(raise_exception=True)
        changed = webhook_services.update_webhook(webhook=webhook, actor=self.actor(), **body.validated_data)
        return Response(WebhookSerializer(changed).data)

    @extend_schema(responses={204: None, **openapi.errors(*openapi.MANAGEMENT_ACTION)})
    def delete(self, request, account_id, runbook_name, webhook_id):
        webhook_services.delete_webhook(webhook=self.get_webhook(), actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotate(WebhookScoped, APIView):
    @extend_schema(
        tags=[TAG],
        request=None,
        responses={200: IssuedWebhookSerializer, **openapi.errors(*openapi.MANAGEMENT_ACTION)},
        description="A new token: the old URL stops at once; the answer alone carries the new `uri`.",
    )
    def post(self, request, account_id, runbook_name, webhook_id):
        issued = webhook_services.rotate_webhook_token(webhook=self.get_webhook(), actor=self.actor())
        return issued_answer(issued)


class WebhookExtend(WebhookScoped, APIView):
    @extend_schema(
        tags=[TAG],
        request=WebhookExtendBody,
        responses={200: WebhookSerializer, **write_errors()},
        description="A new expiry, also for an expired webhook: its URL works again until then.",
    )
    def post(self, request, account_id, runbook_name, webhook_id):
        webhook = self.get_webhook()
        body = WebhookExtendBody(data=request.data)
        body.is_valid(raise_exception=True)
        extended = webhook_services.extend_webhook(webhook=webhook, actor=self.actor(), **body.validated_data)
        return Response(WebhookSerializer(extended).data)


class WebhookSigning(WebhookScoped, APIView):
    @extend_schema(
        tags=[TAG],
        request=None,
        responses={200: IssuedWebhookSerializer, **openapi.errors(*openapi.MANAGEMENT_ACTION)},
        description="Calls must be signed from now on, with a new secret: the answer alone carries `signing_secret`.",
    )
    def post(self, request, account_id, runbook_name, webhook_id):
        issued = webhook_services.enable_signing(webhook=self.get_webhook(), actor=self.actor())
        return issued_answer(issued)

    @extend_schema(
        tags=[TAG],
        responses={200: WebhookSerializer, **openapi.errors(*openapi.MANAGEMENT_ACTION)},
        description="Calls need no signature any more; the secret is forgotten.",
    )
    def delete(self, request, account_id, runbook_name, webhook_id):
        webhook = webhook_services.disable_signing(webhook=self.get_webhook(), actor=self.actor())
        return Response(WebhookSerializer(webhook).data)
