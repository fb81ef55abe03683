"""The agent's downloads: `install.sh` and the wheel it installs.

Public, like Azure's and GitHub's agent downloads: they carry no secret (the access key is given to
`hybridworker register` afterwards), so they take no credential and count no failure.
"""

from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt

from automation.agent_package import agent_wheel, install_script

SAFE_METHODS = ("GET", "HEAD")


def _method_not_allowed(request) -> JsonResponse | None:
    if request.method in SAFE_METHODS:
        return None
    detail = f"{request.method} is not allowed here: download it with GET."
    response = JsonResponse({"code": "method_not_allowed", "detail": detail}, status=405)
    response["Allow"] = ", ".join(SAFE_METHODS)
    return response


def _revalidated(response: HttpResponse) -> HttpResponse:
    # The wheel keeps its name from one agent version to the next while its content may change (a new
    # portal build): clients may keep a copy, but must ask again each time (a 304 when it is the same).
    patch_cache_control(response, no_cache=True)
    return response


@csrf_exempt
def install(request):
    """install.sh, downloading the wheel from the address this request came to (scheme and host as
    Django sees them, so behind a proxy the settings that trust its headers apply)."""
    refused = _method_not_allowed(request)
    if refused:
        return refused
    wheel_url = request.build_absolute_uri(reverse("agent:wheel", kwargs={"filename": agent_wheel().filename}))
    portal_url = request.build_absolute_uri("/").rstrip("/")
    script = install_script(wheel_url=wheel_url, portal_url=portal_url)
    response = HttpResponse(script, content_type="text/x-shellscript; charset=utf-8")
    # Shown in a browser (someone reading it before piping it into sh), saved as install.sh.
    response["Content-Disposition"] = 'inline; filename="install.sh"'
    return _revalidated(response)


@csrf_exempt
def wheel(request, filename: str):
    refused = _method_not_allowed(request)
    if refused:
        return refused
    built = agent_wheel()
    if filename != built.filename:
        detail = f"There is no agent package {filename} here; this portal serves {built.filename} (install.sh gets it)."
        return JsonResponse({"code": "not_found", "detail": detail}, status=404)
    etag = f'"{built.sha256}"'
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return _revalidated(HttpResponseNotModified(headers={"ETag": etag}))
    response = HttpResponse(built.data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{built.filename}"'
    response["Content-Length"] = str(len(built.data))
    response["ETag"] = etag
    return _revalidated(response)
