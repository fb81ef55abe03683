from django.shortcuts import get_object_or_404

from automation.queries.groups import groups_of
from automation.queries.workers import with_presence, workers_of
from automation.services import workers as worker_services
from portal.views.base import account_blade, blade_context, finish, partial_or_page
from portal.views.dialogs import account_dialog, dialog


@account_blade
def group_workers(request, account, group_id):
    group = get_object_or_404(groups_of(account), pk=group_id)
    workers = list(with_presence(workers_of(account).filter(group=group)))
    context = blade_context(account, "groups", group=group, workers=workers)
    return partial_or_page(request, "workers/partials/table.html", "workers/index.html", context)


def _worker(account, worker_id):
    return get_object_or_404(with_presence(workers_of(account)), pk=worker_id)


@account_blade
def worker(request, account, worker_id):
    context = blade_context(account, "groups", worker=_worker(account, worker_id))
    return partial_or_page(request, "workers/partials/facts.html", "workers/detail.html", context)


@account_dialog("operator")
def remove(request, account, worker_id):
    worker = _worker(account, worker_id)
    if request.method == "POST":
        worker_services.remove_worker(account=account, worker_id=worker.pk, actor=request.actor)
        said = f"Removed worker {worker.name} from {worker.group.name}."
        return finish(request, "portal:group_workers", account_id=account.pk, group_id=worker.group_id, success=said)
    context = blade_context(account, "groups", worker=worker)
    return dialog(request, "workers/partials/remove_dialog.html", context, name=worker.name, heading="Hybrid workers")
