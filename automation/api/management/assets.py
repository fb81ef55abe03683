"""What the management API's shared resources (variables, credentials, certificates, connection types and
connections) have in common: bodies that refuse keys they do not know, the fields every kind shows, and
the list and detail views, which look rows up by name through the queries and change them only through
the services (automation/services/{variables,credentials,certificates,connections}.py)."""

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from automation.api import schema as openapi
from automation.api.management.scoping import AccountScoped
from automation.services.assets import MAX_DESCRIPTION_CHARS


class Body(serializers.Serializer):
    """A request body that refuses a key it does not know. A misspelt `encrypted` taken silently would leave
    a secret readable by every Reader; a misspelt `password` would keep the old one without a word."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(str(key) for key in data if key not in self.fields or self.fields[key].read_only)
            if unknown:
                raise serializers.ValidationError({key: ["Not a field of this operation."] for key in unknown})
        return super().to_internal_value(data)


class BodySchema(OpenApiSerializerExtension):
    """The document says what Body does: no other properties."""

    target_class = Body
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}


@extend_schema_field({"type": "string", "maxLength": MAX_DESCRIPTION_CHARS, "pattern": openapi.TEXT_PATTERN})
class DescriptionField(serializers.JSONField):
    """Any JSON, handed to the service, which says what is wrong with it; the document states the rule."""


@extend_schema_field({"type": "boolean"})
class BooleanValue(serializers.JSONField):
    """true or false, not "true" or 1 (DRF's BooleanField would take those): the service checks it."""


class AssetSerializer(serializers.ModelSerializer):
    """The fields of every kind: its name (unique in the account, whatever its case), description and times."""

    class Meta:
        fields = ["name", "description", "created_at", "updated_at"]
        read_only_fields = fields


def write_errors(conflict: str | None = None) -> dict:
    """The error answers of an operation that writes, with what a 409 means for it."""
    if conflict is None:
        return openapi.errors(*openapi.MANAGEMENT_WRITE)
    return openapi.errors(*openapi.MANAGEMENT_WRITE, 409, _409=conflict)


class AssetList(AccountScoped, generics.ListAPIView):
    """GET: the account's rows of one kind by name, paginated; POST: a new one (201 with it)."""

    list_rows = None  # staticmethod(query): account -> QuerySet
    create_body: type[Body]
    create_row = None  # staticmethod(service): keyword arguments -> row

    def get_queryset(self):
        return type(self).list_rows(self.get_account())

    def post(self, request, *args, **kwargs):
        account = self.get_account()  # a stranger's 404 before anything about the body
        body = self.create_body(data=request.data)
        body.is_valid(raise_exception=True)
        row = type(self).create_row(account=account, actor=self.actor(), **self.arguments(body.validated_data))
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)

    def arguments(self, data: dict) -> dict:
        """The service's keyword arguments from a valid body."""
        return data


class AssetDetail(AccountScoped, generics.RetrieveAPIView):
    """GET the row named in the path (whatever its case); DELETE it (204)."""

    name_kwarg: str
    get_row = None  # staticmethod(query): (account, name) -> row
    delete_row = None  # staticmethod(service)

    def get_object(self):
        return type(self).get_row(self.get_account(), self.kwargs[self.name_kwarg])

    def delete(self, request, *args, **kwargs):
        type(self).delete_row(account=self.get_account(), name=self.kwargs[self.name_kwarg], actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChangeableAssetDetail(AssetDetail):
    """AssetDetail, and PATCH: the fields the body names change, the others stay."""

    update_body: type[Body]
    update_row = None  # staticmethod(service)

    def patch(self, request, *args, **kwargs):
        account = self.get_account()
        body = self.update_body(data=request.data)
        body.is_valid(raise_exception=True)
        row = self.update(account, self.arguments(body.validated_data))
        return Response(self.get_serializer(row).data)

    def update(self, account, changes: dict):
        return type(self).update_row(account=account, name=self.kwargs[self.name_kwarg], actor=self.actor(), **changes)

    def arguments(self, data: dict) -> dict:
        return data


def asset_schema(
    *,
    tag: str,
    serializer,
    create,
    update=None,
    create_conflict: str,
    update_conflict=None,
    delete_conflict=None,
    create_examples=(),
):
    """extend_schema_view arguments of a kind's list view and of its detail view."""
    refusals = (409,) if delete_conflict else ()
    deleted = {204: None, **openapi.errors(*openapi.MANAGEMENT_ACTION, *refusals, _409=delete_conflict or "")}
    lists = {
        "get": extend_schema(tags=[tag], **openapi.listing(serializer)),
        "post": extend_schema(
            tags=[tag],
            request=create,
            responses={201: serializer, **write_errors(create_conflict)},
            examples=list(create_examples) or None,
        ),
    }
    details = {
        "get": extend_schema(tags=[tag], **openapi.reading(serializer)),
        "delete": extend_schema(tags=[tag], responses=deleted),
    }
    if update is not None:
        details["patch"] = extend_schema(
            tags=[tag], request=update, responses={200: serializer, **write_errors(update_conflict)}
        )
    return lists, details
