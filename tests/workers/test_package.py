"""The agent package as a whole: what it may import, and how its modules depend on one another."""

import ast
import subprocess
import sys
from pathlib import Path

from tests.support.processes import BASE_DIR

FORBIDDEN = ("django", "automation", "portal", "rest_framework", "channels", "celery")
PACKAGE = BASE_DIR / "workers"


def imported_names(path: Path) -> list[str]:
    """Every module a file names in an import, wherever the import stands (TYPE_CHECKING blocks included)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(BASE_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_agent_imports_nothing_from_the_server_side():
    for path in PACKAGE.rglob("*.py"):
        for name in imported_names(path):
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, workers.cli, workers.service, workers.diagnose, workers.registration, "
            "workers.status, workers.systemd; print(' '.join(sys.modules))",
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout.split()
    assert not [m for m in loaded if m.split(".")[0] in FORBIDDEN]


def test_no_module_of_the_agent_imports_server_code_the_runbook_helper_included():
    paths = sorted(PACKAGE.rglob("*.py"))
    assert PACKAGE / "runbook_helper" / "hybridworker_runbook.py" in paths
    for path in paths:
        for name in imported_names(path):
            assert name.split(".")[0] not in FORBIDDEN, f"{path} imports {name}"


def test_no_two_modules_of_the_agent_import_each_other_not_even_for_types():
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {
        name: {imported for imported in imported_names(path) if imported in modules and imported != name}
        for name, path in modules.items()
    }
    # A package's __init__ is imported with each of its modules: an edge to it says nothing about a cycle.
    packages = {module_name(path) for path in PACKAGE.rglob("__init__.py")}
    graph = {name: targets - packages for name, targets in graph.items()}

    cycles = []

    def visit(name: str, trail: list[str]) -> None:
        for target in sorted(graph[name]):
            if target in trail:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in done:
                visit(target, [*trail, target])
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert cycles == []
