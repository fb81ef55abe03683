"""Management API v1: credentials. The user name is in every answer; the password is write-only."""

from drf_spectacular.utils import extend_schema_field, extend_schema_view

from automation.api import schema as openapi
from automation.api.management.assets import (
    AssetList,
    AssetSerializer,
    Body,
    ChangeableAssetDetail,
    DescriptionField,
    asset_schema,
)
from automation.models import Credential
from automation.queries.credentials import get_credential, list_credentials
from automation.services import credentials as credential_services

# One line (no control character, no line or paragraph separator) that is not only white space.
_LINE = r"[^\u0000-\u001f\u007f-\u009f\u2028\u2029]"
_LINE_NOT_SPACE = r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": credential_services.MAX_USERNAME_CHARS,
        "pattern": f"^{_LINE}*{_LINE_NOT_SPACE}{_LINE}*$",
    }
)
class UsernameField(DescriptionField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": credential_services.MAX_PASSWORD_CHARS,
        "pattern": openapi.CODE_PATTERN,
        "writeOnly": True,
        "description": "Taken as typed; never in an answer.",
    }
)
class PasswordField(DescriptionField):
    pass


class CredentialSerializer(AssetSerializer):
    class Meta:
        model = Credential
        fields = [*AssetSerializer.Meta.fields, "username"]
        read_only_fields = fields


class CredentialCreate(Body):
    name = openapi.NameSchemaField()
    username = UsernameField()
    password = PasswordField()
    description = DescriptionField(required=False)


class CredentialUpdate(Body):
    username = UsernameField(required=False)
    password = PasswordField(required=False)
    description = DescriptionField(required=False)


lists, details = asset_schema(
    tag="credentials",
    serializer=CredentialSerializer,
    create=CredentialCreate,
    update=CredentialUpdate,
    create_conflict="A credential of that name (whatever its case) exists in the account.",
    delete_conflict="Hybrid worker groups run their jobs as it (named in `detail`): set their Run as first.",
)


@extend_schema_view(**lists)
class CredentialList(AssetList):
    serializer_class = CredentialSerializer
    list_rows = staticmethod(list_credentials)
    create_body = CredentialCreate
    create_row = staticmethod(credential_services.create_credential)


@extend_schema_view(**details)
class CredentialDetail(ChangeableAssetDetail):
    serializer_class = CredentialSerializer
    name_kwarg = "credential_name"
    get_row = staticmethod(get_credential)
    update_body = CredentialUpdate
    update_row = staticmethod(credential_services.update_credential)
    delete_row = staticmethod(credential_services.delete_credential)
