"""The package's import structure: no module of grutool imports, directly or through
others, a module that imports it back (imports under `if TYPE_CHECKING:` are annotations
only and do not count; imports inside functions do)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "grutool"


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _imports(statements: list[ast.stmt]):
    """Every import statement in `statements` and the statements nested in them (function and
    class bodies, branches, `try` and `with` blocks), except under `if TYPE_CHECKING:`.
    Imports are statements, so only statements are walked, never expressions."""
    for statement in statements:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            yield statement
            continue
        if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
            yield from _imports(statement.orelse)
            continue
        for field in ("body", "orelse", "finalbody"):
            nested = getattr(statement, field, None)
            if isinstance(nested, list):
                yield from _imports(nested)
        for part in [*getattr(statement, "handlers", []), *getattr(statement, "cases", [])]:
            yield from _imports(part.body)


def import_graph() -> dict[str, set[str]]:
    """module -> the grutool modules it imports (a fresh copy of the graph, parsed once)."""
    return {name: set(targets) for name, targets in _parsed_import_graph().items()}


@functools.cache
def _parsed_import_graph() -> dict[str, set[str]]:
    modules = _module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in _imports(tree.body):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    if candidate in modules:
                        graph[name].add(candidate)
                    elif target in modules:
                        graph[name].add(target)
            else:
                graph[name] |= {alias.name for alias in node.names if alias.name in modules}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), or a module importing
    itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                other = stack.pop()
                group.append(other)
                if other == node:
                    break
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_in_grutool():
    graph = import_graph()
    assert len(graph) > 40 and "grutool.checkpoint" in graph
    assert cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle():
    graph = import_graph()
    graph["grutool.checkpoint"].add("grutool.api")  # api imports checkpoint
    assert any({"grutool.api", "grutool.checkpoint"} <= set(group) for group in cycles(graph))


def test_the_core_imports_no_command():
    commands = {"grutool.api", "grutool.cli", "grutool.convert", "grutool.verify",
                "grutool.check", "grutool.diff", "grutool.explain", "grutool.plot"}
    graph = import_graph()
    reached, todo = set(), ["grutool.checkpoint"]
    while todo:
        for other in graph[todo.pop()] - reached:
            reached.add(other)
            todo.append(other)
    assert not reached & commands, reached & commands


def test_no_merge_conflict_markers_in_the_repository():
    """A merge resolved in haste leaves `<<<<<<<` lines behind in files no test imports (the
    CHANGELOG, CONTRIBUTING): none may be committed."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    markers = ("<<<<<<< ", ">>>>>>> ")
    found = []
    for name in listed.stdout.splitlines():
        path = root / name
        if path.suffix not in (".py", ".md", ".toml", ".yaml", ".yml", ".cfg", ".txt", ".json") \
                or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if line.startswith(markers):
                found.append(f"{name}:{number}")
    assert not found, found
