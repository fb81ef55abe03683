"""The Connections blade (Shared resources): connections, and on a tab of their own the connection types
(Azure's built-in ones and the account's). A connection's encrypted fields are shown to no one."""

from functools import partial

from automation.models import Connection, ConnectionType
from automation.queries import connections as queries
from automation.services import connections as services
from portal.asset_forms import FIELD_TYPE_WORDS, ConnectionAddForm, ConnectionPropertiesForm, ConnectionTypeForm
from portal.views.assets import AssetBlade

MASK = "••••••"


def _add_form(request, account):
    """The form for the type chosen in the dialog's select (a GET when it changes, the hidden field when
    posted); no type yet: the dialog asks for one."""
    wanted = request.POST.get("connection_type") if request.method == "POST" else request.GET.get("connection_type")
    types = list(queries.list_connection_types(account))
    chosen = next((t for t in types if t.name == wanted), None)
    # What was typed before the type was chosen comes along (neither is a secret).
    initial = {name: request.GET.get(name, "") for name in ("name", "description")}
    return partial(ConnectionAddForm, types=types, chosen=chosen, initial=initial)


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "—" if value in (None, "") else str(value)


def _decorate(rows: list[Connection]) -> None:
    for row in rows:
        row.shown_fields = [
            (
                field["name"],
                FIELD_TYPE_WORDS[field["type"]],
                MASK if field["encrypted"] else _shown(row.values.get(field["name"])),
            )
            for field in row.connection_type.fields
        ]


def _type_in_use(row: ConnectionType) -> str | None:
    if row.is_builtin:
        return "it is one of Azure's built-in connection types."
    users = list(row.connections.order_by("name").values_list("name", flat=True)[:11])
    if not users:
        return None
    shown = ", ".join(users[:10]) + (" and more" if len(users) > 10 else "")
    return f"connections use it ({shown}): delete those connections first."


blade = AssetBlade(Connection, services, queries, _add_form, ConnectionPropertiesForm, decorate=_decorate)
connections, add, connection, delete = blade.views()
# Its list counts the connections of each type: a change to either refreshes it.
types = AssetBlade(
    ConnectionType,
    services,
    queries,
    ConnectionTypeForm,
    route="connection_type",
    blade="connections",
    prefix="types_",
    live="connectiontype connection",
)
connection_types, add_type, _, _ = types.views()
delete_type = types.delete_view(blocked=_type_in_use)
