from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication

from automation.api import throttling
from automation.api.exceptions import BadCredentials
from automation.services.tokens import TOKEN_PREFIX, user_for_token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer hrwpat_…`: a personal API token."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        user = user_for_token(token)
        if user is None:
            throttling.refuse(
                request,
                credential=throttling.credential_id(token, TOKEN_PREFIX),
                refusal=BadCredentials("The API token is not valid, has expired, or was revoked."),
            )
        return user, None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "automation.api.management.authentication.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal API token (hrwpat_…)."}
