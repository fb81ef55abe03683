"""Management API v1: the Automation accounts you are a member of."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers

from automation.api import schema as openapi
from automation.api.management.scoping import AccountScoped
from automation.models import AutomationAccount, Role
from automation.queries.accounts import accounts_of


class AccountSerializer(serializers.ModelSerializer):
    created = serializers.DateTimeField(source="created_at")
    role = serializers.ChoiceField(choices=Role.choices, help_text="Your role in this account.")

    class Meta:
        model = AutomationAccount
        fields = ["id", "name", "region", "created", "role"]


@extend_schema(tags=["accounts"], **openapi.listing(AccountSerializer))
class AccountList(generics.ListAPIView):
    serializer_class = AccountSerializer

    def get_queryset(self):
        return accounts_of(self.request.user)


@extend_schema(tags=["accounts"], **openapi.reading(AccountSerializer))
class AccountDetail(AccountScoped, generics.RetrieveAPIView):
    serializer_class = AccountSerializer

    def get_object(self):
        return self.get_account()
