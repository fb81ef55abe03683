"""Management API v1: variables. An encrypted variable's value is never in an answer (`"value": null`);
a plain one can be encrypted in place with `"encrypted": true`, one way."""

import json

from django.db import transaction
from drf_spectacular.utils import extend_schema_field, extend_schema_view
from rest_framework import serializers

from automation.api import schema as openapi
from automation.api.management.assets import (
    AssetList,
    AssetSerializer,
    Body,
    BooleanValue,
    ChangeableAssetDetail,
    DescriptionField,
    asset_schema,
)
from automation.api.management.job_fields import JSONValue
from automation.api.parsers import VariableJSONParser
from automation.models import Variable
from automation.queries.variables import get_variable, list_variables
from automation.services import assets as asset_services
from automation.services import variables as variable_services
from automation.services.assets import UNSET
from automation.services.checks import checked_bool
from automation.services.errors import InvalidInput

VALUE = {
    "description": (
        f"Any JSON value: string, number, boolean, null, object or array, at most "
        f"{variable_services.MAX_VALUE_CHARS:,} characters of JSON; its strings are text, nested at most "
        f"{openapi.MAX_JSON_DEPTH} levels. null in every answer about an encrypted variable."
    )
}


@extend_schema_field(VALUE)
class ValueField(JSONValue):
    pass


class VariableSerializer(AssetSerializer):
    value = serializers.SerializerMethodField()

    class Meta:
        model = Variable
        fields = [*AssetSerializer.Meta.fields, "value", "encrypted"]
        read_only_fields = fields

    @extend_schema_field(VALUE)
    def get_value(self, variable):
        return None if variable.encrypted else json.loads(variable.value)


class VariableCreate(Body):
    name = openapi.NameSchemaField()
    value = ValueField(required=False, allow_null=True, default=None)
    encrypted = BooleanValue(
        required=False, default=False, help_text="Seal the value: from then on only a running job reads it."
    )
    description = DescriptionField(required=False)


class VariableUpdate(Body):
    value = ValueField(required=False, allow_null=True, help_text="A new value (an encrypted variable stays so).")
    encrypted = BooleanValue(
        required=False,
        help_text="true encrypts a plain variable in place; there is no undoing it (false on an encrypted one is a "
        "400).",
    )
    description = DescriptionField(required=False)


lists, details = asset_schema(
    tag="variables",
    serializer=VariableSerializer,
    create=VariableCreate,
    update=VariableUpdate,
    create_conflict="A variable of that name (whatever its case) exists in the account.",
    update_conflict="Another request encrypted the variable at the same moment.",
)


@extend_schema_view(**lists)
class VariableList(AssetList):
    serializer_class = VariableSerializer
    parser_classes = [VariableJSONParser]
    list_rows = staticmethod(list_variables)
    create_body = VariableCreate
    create_row = staticmethod(variable_services.create_variable)


@extend_schema_view(**details)
class VariableDetail(ChangeableAssetDetail):
    serializer_class = VariableSerializer
    parser_classes = [VariableJSONParser]
    name_kwarg = "variable_name"
    get_row = staticmethod(get_variable)
    update_body = VariableUpdate
    update_row = staticmethod(variable_services.update_variable)
    delete_row = staticmethod(variable_services.delete_variable)

    def update(self, account, changes: dict):
        encrypt = changes.pop("encrypted", UNSET)
        name, actor = self.kwargs[self.name_kwarg], self.actor()
        if encrypt is UNSET:
            return super().update(account, changes)
        asset_services.require_writer(account=account, actor=actor)
        checked_bool(encrypt, field="encrypted")
        # One transaction: a value refused after the encryption leaves the variable as it was. Encrypting
        # first means a new value given with it is sealed at once, never stored in the clear.
        with transaction.atomic():
            if get_variable(account, name).encrypted:
                if not encrypt:
                    raise InvalidInput(
                        "An encrypted variable cannot be decrypted: delete it and create it again to make it plain.",
                        field="encrypted",
                    )
            elif encrypt:
                variable_services.encrypt_variable(account=account, name=name, actor=actor)
            return super().update(account, changes)
