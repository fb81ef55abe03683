"""Management API v1: connection types (a named set of typed fields; no PATCH, as in Azure) and connections
(a value for each field of a type). An encrypted field reads null in every answer."""

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_view
from rest_framework import serializers

from automation.api import schema as openapi
from automation.api.management.assets import (
    AssetDetail,
    AssetList,
    AssetSerializer,
    Body,
    ChangeableAssetDetail,
    DescriptionField,
    asset_schema,
)
from automation.models import Connection, ConnectionType
from automation.queries.connections import get_connection, get_connection_type, list_connection_types, list_connections
from automation.services import connections as connection_services

FIELD = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": openapi.PARAMETER_NAME_MAX, "pattern": openapi.PARAMETER_NAME_PATTERN},
        "type": {"type": "string", "enum": list(connection_services.FIELD_TYPES), "default": "string"},
        "encrypted": {"type": "boolean", "default": False},
    },
}
FIELD_VALUE = {
    "anyOf": [
        {
            "type": "string",
            "maxLength": connection_services.MAX_STRING_CHARS,
            "pattern": openapi.TEXT_PATTERN,
        },
        {"type": "integer", "minimum": openapi.MIN_INT, "maximum": openapi.MAX_INT},
        {"type": "boolean"},
    ]
}


@extend_schema_field(
    {
        "type": "array",
        "minItems": 1,
        "maxItems": connection_services.MAX_FIELDS,
        "items": FIELD,
        "description": "The fields in the order a form shows them; their names are unique, ignoring case.",
    }
)
class FieldsField(DescriptionField):
    pass


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": FIELD_VALUE,
        "description": "field: value, each of its field's type (string, int or bool). On create, every field of "
        "the type; on PATCH, the fields to change.",
    }
)
class ValuesField(DescriptionField):
    pass


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {**FIELD_VALUE, "nullable": True},
        "description": "field: value for every field of the type; null for an encrypted field.",
    }
)
class ShownValuesField(serializers.SerializerMethodField):
    pass


@extend_schema_field({"type": "array", "items": {**FIELD, "required": ["name", "type", "encrypted"]}})
class DeclaredFieldsField(serializers.JSONField):
    pass


class ConnectionTypeSerializer(AssetSerializer):
    fields = DeclaredFieldsField(read_only=True)

    class Meta:
        model = ConnectionType
        fields = [*AssetSerializer.Meta.fields, "fields", "is_builtin"]
        read_only_fields = fields


class ConnectionTypeCreate(Body):
    name = openapi.NameSchemaField()
    fields = FieldsField()
    description = DescriptionField(required=False)


class ConnectionSerializer(AssetSerializer):
    connection_type = serializers.CharField(source="connection_type.name", read_only=True)
    values = ShownValuesField()

    class Meta:
        model = Connection
        fields = [*AssetSerializer.Meta.fields, "connection_type", "values"]
        read_only_fields = fields

    def get_values(self, connection) -> dict:
        return {
            field["name"]: None if field["encrypted"] else connection.values.get(field["name"])
            for field in connection.connection_type.fields
        }


class ConnectionCreate(Body):
    name = openapi.NameSchemaField()
    connection_type = openapi.NameSchemaField(help_text="A connection type of the account, built-in ones included.")
    values = ValuesField()
    description = DescriptionField(required=False)


class ConnectionUpdate(Body):
    values = ValuesField(required=False)
    description = DescriptionField(required=False)


type_lists, type_details = asset_schema(
    tag="connections",
    serializer=ConnectionTypeSerializer,
    create=ConnectionTypeCreate,
    create_conflict="A connection type of that name (whatever its case) exists in the account.",
    delete_conflict="A built-in type, or one that connections use (named in `detail`), cannot be deleted.",
)


@extend_schema_view(**type_lists)
class ConnectionTypeList(AssetList):
    serializer_class = ConnectionTypeSerializer
    list_rows = staticmethod(list_connection_types)
    create_body = ConnectionTypeCreate
    create_row = staticmethod(connection_services.create_connection_type)


@extend_schema_view(**type_details)
class ConnectionTypeDetail(AssetDetail):
    serializer_class = ConnectionTypeSerializer
    name_kwarg = "connection_type_name"
    get_row = staticmethod(get_connection_type)
    delete_row = staticmethod(connection_services.delete_connection_type)


lists, details = asset_schema(
    tag="connections",
    serializer=ConnectionSerializer,
    create=ConnectionCreate,
    update=ConnectionUpdate,
    create_conflict="A connection of that name (whatever its case) exists in the account.",
    create_examples=[
        OpenApiExample(
            "Of a built-in type",
            value={
                "name": "Example subscription",
                "connection_type": "Azure",
                "values": {"AutomationCertificateName": "Example cer", "SubscriptionID": "0000-1111"},
                "description": "",
            },
            request_only=True,
        )
    ],
)


@extend_schema_view(**lists)
class ConnectionList(AssetList):
    serializer_class = ConnectionSerializer
    list_rows = staticmethod(list_connections)
    create_body = ConnectionCreate
    create_row = staticmethod(connection_services.create_connection)


@extend_schema_view(**details)
class ConnectionDetail(ChangeableAssetDetail):
    serializer_class = ConnectionSerializer
    name_kwarg = "connection_name"
    get_row = staticmethod(get_connection)
    update_body = ConnectionUpdate
    update_row = staticmethod(connection_services.update_connection)
    delete_row = staticmethod(connection_services.delete_connection)
