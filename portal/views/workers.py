from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from automation.queries.groups import groups_of
from automation.queries.workers import with_presence, workers_of
from automation.services import workers as worker_services
from portal.views.base import account_blade, finish, require_role


@account_blade
def group_workers(request, account, group_id):
    group = get_object_or_404(groups_of(account), pk=group_id)
    workers = list(with_presence(workers_of(account).filter(group=group)))
    context = {"account": account, "blade": "groups", "group": group, "workers": workers}
    template = "workers/partials/table.html" if request.htmx else "workers/index.html"
    return render(request, template, context)


def _worker(account, worker_id):
    return get_object_or_404(with_presence(workers_of(account)), pk=worker_id)


@account_blade
def worker(request, account, worker_id):
    worker = _worker(account, worker_id)
    template = "workers/partials/facts.html" if request.htmx else "workers/detail.html"
    return render(request, template, {"account": account, "blade": "groups", "worker": worker})


@account_blade
@require_http_methods(["GET", "POST"])
def remove(request, account, worker_id):
    require_role(account, "operator")
    worker = _worker(account, worker_id)
    if request.method == "POST":
        worker_services.remove_worker(account=account, worker_id=worker.pk, actor=request.actor)
        messages.success(request, f"Removed worker {worker.name} from {worker.group.name}.")
        return finish(request, "portal:group_workers", account_id=account.pk, group_id=worker.group_id)
    context = {"account": account, "blade": "groups", "worker": worker}
    template = "workers/partials/remove_dialog.html" if request.htmx else "workers/remove.html"
    return render(request, template, context)
