from django.db.models import Count, QuerySet
from django.db.models.functions import Lower

from automation.models import AutomationAccount, Connection, ConnectionType
from automation.services.assets import find


def list_connection_types(account: AutomationAccount) -> QuerySet[ConnectionType]:
    """The account's connection types by name, built-in ones included, each with `connection_count`, in one query."""
    return (
        ConnectionType.objects.filter(account=account)
        .annotate(connection_count=Count("connections"))
        .order_by(Lower("name"), "name")
    )


def get_connection_type(account: AutomationAccount, name: str) -> ConnectionType:
    return find(ConnectionType, account=account, name=name)


def list_connections(account: AutomationAccount) -> QuerySet[Connection]:
    """The account's connections by name with their type, in one query; the sealed fields stay in the database."""
    return (
        Connection.objects.filter(account=account)
        .select_related("connection_type")
        .defer("sealed_values")
        .order_by(Lower("name"), "name")
    )


def get_connection(account: AutomationAccount, name: str) -> Connection:
    """The connection of that name (case-insensitively) with its type, or NotFound."""
    return find(Connection, account=account, name=name, related=("connection_type",))
