"""Management API v1: an account's access keys, regenerated one at a time."""

from django.utils.cache import patch_cache_control
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from automation.api import schema as openapi
from automation.api.management.scoping import AccountScoped
from automation.services import keys as key_services


class RegeneratedKeySerializer(serializers.Serializer):
    slot = serializers.CharField()
    key = serializers.CharField(help_text="The new key. The other key keeps working.")


class RegenerateKey(AccountScoped, APIView):
    @extend_schema(
        tags=["keys"],
        request=None,
        parameters=[openapi.KEY_SLOT],
        responses={200: RegeneratedKeySerializer, **openapi.errors(*openapi.MANAGEMENT_ACTION)},
        description="Owners only. The other key keeps working; registered workers stay connected.",
    )
    def post(self, request, account_id, slot):
        key = key_services.regenerate_key(account=self.get_account(), slot=slot, actor=self.actor())
        response = Response(RegeneratedKeySerializer({"slot": slot, "key": key}).data)
        patch_cache_control(response, no_store=True)  # it carries the new key
        return response
