"""Management API v1: certificates. Uploaded as base64 (a .cer, or a .pfx with its password); answers say
what the certificate says about itself, never its content, key or password."""

import base64
import binascii

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_view
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
from automation.models import Certificate
from automation.queries.certificates import get_certificate, list_certificates
from automation.services import certificates as certificate_services
from automation.services.errors import InvalidInput

# A self-signed certificate (CN=example.test, valid 2025 to 2125) without its key: the document's example.
EXAMPLE_CER = (
    "MIIBMDCB1qADAgECAhRJ7ZbjmijQWrgK3rVAdyEc+EAc4TAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAxleGFtcGxlLnRlc3QwIBcN"
    "MjUwMTAxMDAwMDAwWhgPMjEyNTAxMDEwMDAwMDBaMBcxFTATBgNVBAMMDGV4YW1wbGUudGVzdDBZMBMGByqGSM49AgEGCCqGSM49"
    "AwEHA0IABETBI4AjhL+Z8ntTT8qhfPgMJxL+LXaQOke1rDnh3d7Em3uodSsjtKevTOnd4IBNkiXAoa0d+OwaBzA/ZrurFpgwCgYI"
    "KoZIzj0EAwIDSQAwRgIhAKo1Mpo5+dj433gRjKVbL9hnVMOOiE20bphXw7pyxPpnAiEAjKvL4kIkzKxK/c02kulUp+YzSvclg4Zh"
    "m8ThthZpsvo="
)


@extend_schema_field(
    {
        "type": "string",
        "format": "byte",
        "writeOnly": True,
        "description": f"The file in base64 (line breaks allowed): a .cer (DER or PEM) or a .pfx/.p12, at most "
        f"{certificate_services.MAX_CONTENT_BYTES // 1024} KiB decoded.",
    }
)
class ContentField(serializers.JSONField):
    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if not isinstance(data, str):
            raise serializers.ValidationError("The file's bytes in base64.")
        try:
            return base64.b64decode("".join(data.split()), validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("Not base64: give the file's bytes in base64.") from None


@extend_schema_field(
    {
        "type": "string",
        "nullable": True,
        "maxLength": 1024,
        "pattern": openapi.CODE_PATTERN,
        "writeOnly": True,
        "description": "The .pfx file's password (none for a .cer); never in an answer.",
    }
)
class PfxPasswordField(DescriptionField):
    pass


class CertificateSerializer(AssetSerializer):
    class Meta:
        model = Certificate
        fields = [
            *AssetSerializer.Meta.fields,
            "exportable",
            "thumbprint",
            "subject",
            "issuer",
            "not_before",
            "expiry_time",
            "has_private_key",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "thumbprint": {"help_text": "SHA-1 of the certificate, upper-case hex, as Azure shows it."},
            "exportable": {"help_text": "Whether a running job may get the certificate (and its key)."},
        }


class CertificateCreate(Body):
    name = openapi.NameSchemaField()
    content_base64 = ContentField()
    password = PfxPasswordField(required=False, allow_null=True)
    exportable = BooleanValue(required=False, default=False)
    description = DescriptionField(required=False)


class CertificateUpdate(Body):
    content_base64 = ContentField(required=False, help_text="New content replaces the certificate.")
    password = PfxPasswordField(required=False, allow_null=True)
    exportable = BooleanValue(required=False)
    description = DescriptionField(required=False)


def _arguments(data: dict) -> dict:
    data = dict(data)
    if "content_base64" in data:
        data["content"] = data.pop("content_base64")
    elif "password" in data:
        raise InvalidInput("A password goes with the content_base64 of a .pfx file it opens.", field="password")
    return data


lists, details = asset_schema(
    tag="certificates",
    serializer=CertificateSerializer,
    create=CertificateCreate,
    update=CertificateUpdate,
    create_conflict="A certificate of that name (whatever its case) exists in the account.",
    create_examples=[
        OpenApiExample(
            "A .cer",
            value={"name": "Example cer", "content_base64": EXAMPLE_CER, "exportable": False, "description": ""},
            request_only=True,
        )
    ],
)


@extend_schema_view(**lists)
class CertificateList(AssetList):
    serializer_class = CertificateSerializer
    list_rows = staticmethod(list_certificates)
    create_body = CertificateCreate
    create_row = staticmethod(certificate_services.create_certificate)

    def arguments(self, data: dict) -> dict:
        return _arguments(data)


@extend_schema_view(**details)
class CertificateDetail(ChangeableAssetDetail):
    serializer_class = CertificateSerializer
    name_kwarg = "certificate_name"
    get_row = staticmethod(get_certificate)
    update_body = CertificateUpdate
    update_row = staticmethod(certificate_services.update_certificate)
    delete_row = staticmethod(certificate_services.delete_certificate)

    def arguments(self, data: dict) -> dict:
        return _arguments(data)
