"""The domain's imports point one way: automation/ never reaches up into portal/, no two of its modules
import each other, and only the Celery tasks import lazily (their services import them at the top).

Read from the source, so a cycle is found even while it happens to import without error; then checked
for real, importing every module first in a fresh interpreter in a few orders.
"""

import ast
import os
import random
import subprocess
import sys
from pathlib import Path

# Not in the SQLite pass (no `sqlite` mark): nothing here reaches the suite's database.

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "automation"
# The one module whose function bodies import the domain: see its docstring.
LAZY_IMPORTER = "automation.tasks"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def domain_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py")) if "migrations" not in path.parts}


def imported(node: ast.Import | ast.ImportFrom, known: set[str]) -> list[str]:
    """The modules an import statement names: `from a import b` names a.b when that is a module, else a."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level or node.module is None:
        raise AssertionError(f"relative import of {node.module!r}: the domain imports absolutely")
    names = [f"{node.module}.{alias.name}" for alias in node.names]
    return [name if name in known else node.module for name in names]


def is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(what the module imports when it is loaded, what its functions and methods import when they run)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    at_load: set[str] = set()
    lazy: set[str] = set()

    def visit(body: list[ast.stmt], *, inside_function: bool) -> None:
        for node in body:
            if is_type_checking(node):
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                (lazy if inside_function else at_load).update(imported(node, known))
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list) and children and isinstance(children[0], ast.stmt | ast.excepthandler):
                    nested = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                    visit(children, inside_function=inside_function or nested)

    visit(tree.body, inside_function=False)
    return at_load, lazy


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = domain_modules()
    known = set(modules)
    at_load, lazy = {}, {}
    for name, path in modules.items():
        at_load[name], lazy[name] = imports_of(path, known)
    return at_load, lazy


def ours(names: set[str]) -> set[str]:
    return {name for name in names if name.split(".")[0] in {"automation", "portal"}}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle among the modules (by their load-time imports), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in edges or target == node:
                continue
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := walk(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_the_check_finds_a_cycle_and_reads_lazy_imports_apart():
    """The control: the checks below can fail."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    source = ROOT / "automation" / "tasks.py"
    at_load, lazy = imports_of(source, set(domain_modules()))
    assert "celery" in at_load and "automation.services.leases" in lazy


def test_no_module_of_the_domain_imports_the_portal():
    at_load, lazy = graph()
    upward = {
        (module, target)
        for module in at_load
        for target in at_load[module] | lazy[module]
        if target == "portal" or target.startswith("portal.")
    }
    assert upward == set()


def test_only_the_celery_tasks_import_the_domain_lazily():
    _, lazy = graph()
    lazy_importers = {module: sorted(ours(targets)) for module, targets in lazy.items() if ours(targets)}
    assert set(lazy_importers) <= {LAZY_IMPORTER}, lazy_importers


def test_no_two_modules_of_the_domain_import_each_other():
    at_load, _ = graph()
    edges = {module: {t for t in targets if t.startswith("automation")} for module, targets in at_load.items()}
    assert find_cycle(edges) is None


IMPORT_ALL = """
import importlib, sys
import django
django.setup()
for name in sys.argv[1:]:
    importlib.import_module(name)
"""


def test_every_module_imports_first_in_a_fresh_interpreter(tmp_path):
    modules = sorted(domain_modules())
    shuffled = list(modules)
    random.Random(10).shuffle(shuffled)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "VAR_DIR": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # A cycle that only bites in one order (A first works, B first does not) shows up in one of these.
    for order in (modules, modules[::-1], shuffled):
        result = subprocess.run(
            [sys.executable, "-c", IMPORT_ALL, *order], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"importing {order[0]} first:\n{result.stderr[-3000:]}"
