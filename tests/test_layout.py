"""The package's shape (docs/architecture.md): stages import downwards only, no cycles, no
imports inside functions, no module over 400 lines. Read from the source, nothing imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sanity"
MAX_LINES = 400
# Lower number = lower stage. A module may import its own stage and lower ones, never higher.
STAGES = {
    "ingest": 1,
    "engine": 2,
    "accounts": 2,
    "mail": 3,
    "web": 4,
    "scheduler": 5,
    "cli": 6,
    "__main__": 7,
}
# Siblings that must not import each other (both ways).
APART = [("engine", "accounts")]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The sanity module an import names (`from sanity import engine` names sanity.engine)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(path: Path, known: dict[str, Path]) -> list[tuple[str, int]]:
    """(module imported, line) for every import of a sanity module in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "sanity" and (found := resolve(name, known)):
                out.append((found, node.lineno))
    return out


def stage(module: str) -> tuple[str, int]:
    """(stage name, level) of a module; the shared top-level modules are level 0."""
    part = module.split(".")[1] if "." in module else ""
    return part, STAGES.get(part, 0)


FACTORY = {"sanity", "sanity.factory"}  # the package's lazy `create_app`, and where it lives
GRAPH = {m: imports(p, modules()) for m, p in modules().items()}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_down_the_stages(module):
    """A module imports only its own stage or lower ones; engine and accounts stay apart."""
    if module in FACTORY:
        return  # the factory wires the web stage (and is imported only by cli)
    name, level = stage(module)
    for target, line in GRAPH[module]:
        other, other_level = stage(target)
        if target in FACTORY:
            assert name == "cli", f"{module}:{line} imports the app factory"
            continue
        assert other_level <= level, f"{module}:{line} imports {target}, a higher stage"
        for a, b in APART:
            assert {name, other} != {a, b}, f"{module}:{line} imports {target} ({a} / {b})"


def test_only_the_console_script_imports_the_cli():
    """Nothing outside sanity/cli imports it but `python -m sanity`."""
    for module, edges in GRAPH.items():
        if module.startswith("sanity.cli") or module == "sanity.__main__":
            continue
        assert not [t for t, _ in edges if t.startswith("sanity.cli")], module


def test_no_import_cycles():
    """The import graph (without the factory's wiring) has no cycle."""
    graph = {m: {t for t, _ in edges if t != m and t not in FACTORY} for m, edges in GRAPH.items()}
    graph["sanity"] = set()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(modules()))
def test_no_imports_inside_functions(module):
    """Imports live at the top of a module (a heavy optional dependency would be the only
    exception, marked with a comment on its line saying why)."""
    path = modules()[module]
    lines = path.read_text().splitlines()
    for node in ast.walk(ast.parse(path.read_text())):
        if path.name == "__init__.py" and getattr(node, "name", "") == "__getattr__":
            continue  # a package's lazy attributes: its `__init__` imports nothing eagerly
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    text = lines[inner.lineno - 1]
                    assert "optional" in text and "#" in text, f"{module}:{inner.lineno}: {text}"


@pytest.mark.parametrize("module", sorted(modules()))
def test_modules_stay_small(module):
    """No module over 400 lines: past that, split it by concern."""
    count = len(modules()[module].read_text().splitlines())
    assert count <= MAX_LINES, f"{module} has {count} lines"
