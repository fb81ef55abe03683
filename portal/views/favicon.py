from django.contrib.staticfiles import finders
from django.http import FileResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request):
    # Pages name the SVG icon, but browsers still ask for /favicon.ico on pages that name none (and on a
    # JSON answer): give them the same icon rather than a 404 in every log.
    return FileResponse(open(finders.find("icons/favicon.svg"), "rb"), content_type="image/svg+xml")
