"""The public end of webhooks: `POST /webhooks/<id>?token=<token>`, with any body and no other credential.

Thin: the body (read no further than its limit), the headers and the caller's address go to
automation.services.webhooks.call_webhook. A refusal that is a wrong URL or signature counts as a failed
authentication of the caller's address (automation.api.throttling), so guessing at URLs ends in 429s.
"""

import logging

from django.conf import settings
from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from automation.api import throttling
from automation.api.errors import error_response
from automation.services import webhooks as webhook_services
from automation.services.errors import ServiceError

logger = logging.getLogger("automation.webhooks")


def _refused(request, exc: Exception):
    response = error_response(request, exc)
    # Django's own line for a 4xx carries the request, whose repr holds the URL and so the token: this one
    # names the path and the caller only.
    response._has_been_logged = True
    logger.warning(
        "Webhook call refused: %s from %s: %s %s",
        request.path.encode("unicode_escape").decode("ascii"),
        request.META.get("REMOTE_ADDR", "?"),
        response.status_code,
        getattr(exc, "code", None) or getattr(exc, "default_code", ""),
    )
    return response


def _body(request) -> bytes:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or ""
    too_large = webhook_services.BodyTooLarge(f"A webhook's body is at most {limit} bytes.")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = request.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body


@csrf_exempt
def call(request, webhook_id: str):
    if request.method != "POST":
        response = JsonResponse({"code": "method_not_allowed", "detail": "A webhook is called with POST."}, status=405)
        response["Allow"] = "POST"
        return response
    try:
        try:
            job = webhook_services.call_webhook(
                webhook_id=webhook_id,
                token=request.GET.get("token"),
                body=_body(request),
                headers=dict(request.headers),
                source_ip=request.META.get("REMOTE_ADDR") or None,
            )
        except (webhook_services.WebhookRefused, webhook_services.BadSignature) as refusal:
            throttling.refuse(request, credential=None, refusal=refusal)
    except (ServiceError, throttling.TooManyFailures) as exc:
        return _refused(request, exc)
    response = JsonResponse({"JobIds": [str(job.pk)]}, status=202)
    response["Location"] = settings.PORTAL_BASE_URL + reverse(
        "api:job-detail", kwargs={"account_id": job.account_id, "job_id": job.pk}
    )
    return response
