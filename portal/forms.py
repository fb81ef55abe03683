from django import forms

from automation.models import Role
from automation.services.errors import ServiceError


class ServiceForm(forms.Form):
    def add_service_error(self, error: ServiceError) -> None:
        field = error.field if error.field in self.fields else None
        self.add_error(field, error.detail)


class CreateAccountForm(ServiceForm):
    name = forms.CharField(max_length=200, help_text="Letters, digits, spaces, '-', '_' and '.'.")
    owner = forms.CharField(max_length=150, label="Owner", help_text="Username of the account's first Owner.")


class AddMemberForm(ServiceForm):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.READER)


class ChangeRoleForm(ServiceForm):
    role = forms.ChoiceField(choices=Role.choices)


class ApiTokenForm(ServiceForm):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'CI pipeline'.")
    expires_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, label="Expires after (days)", help_text="Empty: never expires."
    )


class GroupForm(ServiceForm):
    name = forms.CharField(
        max_length=200, strip=False, help_text="Letters, digits, spaces, '-', '_' and '.'; up to 128 characters."
    )
