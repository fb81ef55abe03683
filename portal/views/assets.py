"""What the Shared resources blades (variables, credentials, certificates, connections and connection types)
have in common: a list that refreshes itself live, + Add, a properties blade whose form saves what changed,
and Delete after a confirmation. Each kind says what is its own in one `AssetBlade`, and its module names the
views Django routes to (`variables, add, variable, delete = blade.views()`).

A kind's parts are found by its name (`variable`, `connection_type`), as the services and queries name them:
`create_<name>`, `update_<name>`, `delete_<name>` in its services module, `list_<name>s` in its queries
module; routes `portal:<name>s` (the list), `portal:<name>` (its properties blade), `<name>_add` and
`<name>_delete`. Its templates are in `templates/<blade>/`: `<prefix>index.html` (the list page) with
`partials/<prefix>table.html` (the part the live refresh fetches again), `partials/<prefix>add_dialog.html`
and `<prefix>detail.html` (the properties blade).
"""

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from django.db.models import Model
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from automation.services.assets import KIND_WORDS, kind_of
from portal.views.base import account_blade, blade_context, finish, paginate, partial_or_page, require_role
from portal.views.dialogs import account_dialog, attempt, create_dialog, dialog


@dataclass(frozen=True)
class AssetBlade:
    model: type[Model]
    services: ModuleType
    queries: ModuleType
    add_form: Callable[..., Any]  # a form class, or (request, account) -> one, for a form made per request
    edit_form: type | None = None  # None: no properties blade
    route: str = ""  # the kind's name in routes and functions, when it is not the model's
    blade: str = ""  # the lit menu entry and the templates' folder, when it is not the list's route
    prefix: str = ""  # of the templates' names, for a second list on the same blade
    live: str = ""  # the kinds whose changes refresh the list (the push's "kind"), when more than its own
    # What a row shows that is not a column: set on each row shown (a type, an expiry, a masked value).
    decorate: Callable[[list], None] = lambda rows: None
    consequence: str = "Runbooks that read it fail from then on."  # said before a deletion

    @property
    def kind(self) -> str:
        return kind_of(self.model)

    @property
    def word(self) -> str:
        return KIND_WORDS[self.kind]

    @property
    def name(self) -> str:
        return self.route or self.kind

    @property
    def icon(self) -> str:
        return f"i-{self.name}"

    @property
    def routes(self) -> dict[str, str]:
        name = self.name
        return {
            "list": f"portal:{name}s",
            "row": f"portal:{name}",
            "add": f"portal:{name}_add",
            "delete": f"portal:{name}_delete",
        }

    @property
    def live_kinds(self) -> str:
        return self.live or self.kind

    @property
    def folder(self) -> str:
        return self.blade or self.name + "s"

    @property
    def table(self) -> str:
        return self.template("partials/table.html")

    def service(self, verb: str) -> Callable[..., Any]:
        return getattr(self.services, f"{verb}_{self.name}")

    def rows(self, account):
        return getattr(self.queries, f"list_{self.name}s")(account)

    def template(self, name: str) -> str:
        folder, _, leaf = name.rpartition("/")
        return f"{self.folder}/{folder + '/' if folder else ''}{self.prefix}{leaf}"

    def row(self, account, ids: dict[str, Any]):
        (pk,) = ids.values()
        return get_object_or_404(self.rows(account), pk=pk)

    def shown(self, rows) -> list:
        rows = list(rows)
        self.decorate(rows)
        return rows

    def list_url(self, account) -> str:
        return reverse(self.routes["list"], args=[account.pk])

    def context(self, account, **values) -> dict:
        return blade_context(account, self.folder, asset=self, word=self.word, **values)

    def views(self) -> tuple:
        """The list, + Add, the properties blade and Delete, in that order."""
        properties = self.properties_view() if self.edit_form else None
        return self.list_view(), self.add_view(), properties, self.delete_view()

    # ---- the views ----------------------------------------------------------------------------------

    def list_view(self):
        @account_blade
        def view(request, account):
            page = paginate(request, self.rows(account))
            page.object_list = self.shown(page.object_list)
            context = self.context(account, page=page)
            return partial_or_page(request, self.table, self.template("index.html"), context)

        return view

    def add_view(self):
        @account_dialog("operator")
        def view(request, account):
            form = self.add_form(request, account) if not isinstance(self.add_form, type) else self.add_form

            def done(made):
                return f"Created {self.word} {made.name}.", self.list_url(account)

            return create_dialog(
                request, account, form, self.service("create"), self.template("partials/add_dialog.html"), done=done
            )

        return view

    def properties_view(self):
        """The properties blade: what the row holds and, for Operators and Owners, its form; a POST saves it."""

        @account_blade
        @require_http_methods(["GET", "POST"])
        def view(request, account, **ids):
            row = self.row(account, ids)
            posted = request.method == "POST"
            if posted:
                require_role(account, "operator")
            form = self.edit_form(request.POST if posted else None, request.FILES if posted else None, row=row)
            if posted:
                saved = form.submit(self.service("update"), account=account, name=row.name, actor=request.actor)
                if saved is not None:
                    return finish(request, request.path, success=f"Saved {self.word} {row.name}.")
            (row,) = self.shown([row])
            context = self.context(account, row=row, form=form)
            return render(request, self.template("detail.html"), context, status=400 if form.errors else 200)

        return view

    def confirm_view(
        self,
        action: Callable[..., Any],
        template: str,
        *,
        said: str,
        to_list: bool = False,
        blocked: Callable[[Any], str | None] = lambda row: None,
    ):
        """A confirm-and-act dialog on one row: `action(account=, name=, actor=)` after Yes. `blocked(row)` says
        before anyone confirms why it cannot be done; a refusal that comes only with the act is said in the
        dialog just the same. After it: `said` (with {word} and {name}), on the list or the row's blade."""

        @account_dialog("operator")
        def view(request, account, **ids):
            row = self.row(account, ids)
            reason = blocked(row)
            if request.method == "POST" and reason is None:
                outcome = attempt(action, account=account, name=row.name, actor=request.actor)
                if not outcome.refused:
                    url = self.list_url(account) if to_list else reverse(self.routes["row"], args=[account.pk, row.pk])
                    return finish(request, url, success=said.format(word=self.word, name=row.name))
                reason = outcome.error.detail
            context = self.context(account, row=row, blocked=reason, consequence=self.consequence)
            status = 400 if reason and request.method == "POST" else 200
            return dialog(request, template, context, name=row.name, status=status)

        return view

    def delete_view(self, *, blocked: Callable[[Any], str | None] = lambda row: None):
        return self.confirm_view(
            self.service("delete"),
            "partials/delete_asset_dialog.html",
            said="Deleted {word} {name}.",
            to_list=True,
            blocked=blocked,
        )
