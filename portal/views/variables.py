"""The Variables blade (Shared resources): a plain value is shown, an encrypted one never again; a plain
variable can be encrypted in place, one way."""

import json

from automation.models import Variable
from automation.queries import variables as queries
from automation.services import variables as services
from portal.asset_forms import TYPE_WORDS, VariableAddForm, VariablePropertiesForm, value_type
from portal.views.assets import AssetBlade


def _decorate(rows: list[Variable]) -> None:
    for row in rows:
        kind = value_type(row.value)
        row.type_word = TYPE_WORDS[kind]
        # A string is shown as its text, anything else as its JSON; an encrypted value is not on the row.
        row.shown_value = json.loads(row.value) if kind in ("string", "datetime") else row.value


blade = AssetBlade(Variable, services, queries, VariableAddForm, VariablePropertiesForm, decorate=_decorate)
variables, add, variable, delete = blade.views()
encrypt = blade.confirm_view(
    services.encrypt_variable,
    "variables/partials/encrypt_dialog.html",
    said="Encrypted {word} {name}: its value is hidden from now on.",
    blocked=lambda row: "it is encrypted already." if row.encrypted else None,
)
