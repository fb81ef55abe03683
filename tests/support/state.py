"""What a refused request or a refused service call must leave as it was: every stored row of the domain.

One snapshot for the whole suite, so a refusal test cannot miss a row it did not think of: every model of
the `automation` app, every concrete column, in primary-key order. Compare two snapshots with `==`
(pytest shows which model's rows differ).
"""

from collections.abc import Collection

from django.apps import apps

# Stamps that an authenticated request moves whether or not it is then refused: a token's last use and an
# agent's last sighting. A test about those stamps passes `ignoring=()`.
TOUCHED = frozenset({"ApiToken.last_used_at", "HybridWorker.last_seen_at"})


def state(*, ignoring: Collection[str] = TOUCHED) -> dict[str, list[tuple]]:
    """Every row of every automation model, keyed by model name, minus the `Model.field` columns in `ignoring`."""
    snapshot = {}
    for model in sorted(apps.get_app_config("automation").get_models(), key=lambda m: m.__name__):
        columns = [f.attname for f in model._meta.concrete_fields if f"{model.__name__}.{f.name}" not in ignoring]
        rows = model._base_manager.order_by("pk").values_list(*columns)
        snapshot[model.__name__] = [tuple(_comparable(value) for value in row) for row in rows]
    return snapshot


def _comparable(value):
    # PostgreSQL hands binary columns back as memoryviews, SQLite as bytes: bytes compare and print alike.
    return bytes(value) if isinstance(value, memoryview) else value
