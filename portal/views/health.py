from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from portal.health import check_celery, check_database, check_redis


@never_cache
def healthz(request):
    result = {"database": check_database(), "redis": check_redis()}
    result["celery"] = check_celery() if result["redis"] == "ok" else "error: the broker (Redis) is down"
    healthy = all(value == "ok" for value in result.values())
    return JsonResponse(result, status=200 if healthy else 503)
