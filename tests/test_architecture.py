"""The layering of `publisher/__init__.py`, enforced by reading every module's imports.

Every `import` counts wherever it is written: at the top, inside a function (a lazy import is
still a dependency, only a later one) and under `if TYPE_CHECKING:` (a type in a signature is a
dependency too; the manifest's old loader cycle lived there). Nothing is imported to run this:
the modules are parsed with `ast`, so the test sees what the files say, not what happened to
load.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "publisher"
TESTS = ROOT / "tests"

# The rooms and what each may import besides the kernel and itself (publisher/__init__.py says
# why). The order of this table is a topological order: no room names a room below it.
ROOMS: dict[str, tuple[str, ...]] = {
    "manifest": (),
    "gguf": ("manifest",),
    "chat": ("manifest", "gguf"),
    "render": ("manifest",),
    "targets": ("manifest",),
    "ollama": ("manifest", "gguf", "chat", "render", "targets"),
    "huggingface": ("manifest", "gguf", "chat", "render", "targets"),
}
_ALL_ROOMS = tuple(ROOMS)
# Features may import every room; among themselves only what is listed.
FEATURES: dict[str, tuple[str, ...]] = {
    "pipeline": _ALL_ROOMS,
    "scaffold": _ALL_ROOMS,
    "commands": (*_ALL_ROOMS, "pipeline", "scaffold"),
    "cli": (*_ALL_ROOMS, "commands"),
}
# Single modules a lower room may read. Each imports nothing from publisher but the kernel and
# the other fact modules (checked below), so the exception can never close a cycle.
FACT_MODULES: dict[str, tuple[str, str]] = {
    "publisher.gguf.quant_layout": (
        "manifest",
        "llama-quantize's vocabulary (quant types, --tensor-type options): the manifest's "
        "[recipes] are written in it",
    ),
    "publisher.gguf.quant_history": (
        "manifest",
        "which llama.cpp builds wrote which layout: the quant rule's tables are built from it",
    ),
    "publisher.gguf.ggml_constants": (
        "manifest",
        "gguf-py's enums loaded without numpy: quant_layout's tables are keyed by them",
    ),
}
# Import cycles being removed elsewhere, each with who removes it. The lead deletes an entry
# when the branch that removes it is merged.
KNOWN_CYCLES: dict[frozenset[str], str] = {}  # none: a cycle found is a defect to fix


def _module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules(base: Path = PACKAGE) -> dict[str, Path]:
    return {_module_name(p, base): p for p in sorted(base.rglob("*.py"))}


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _absolute(node: ast.ImportFrom, name: str, path: Path) -> str:
    """The module an ImportFrom names, relative imports resolved."""
    if node.level == 0:
        return node.module or ""
    base = _package_of(name, path).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


@cache
def _imports(name: str) -> tuple[tuple[str, int, str], ...]:
    """(module imported, line, the package an ImportFrom took names from) for each import of a
    module of this project; `from P import sub` counts as an import of the module P.sub."""
    modules = _modules()
    path = modules[name]
    found: list[tuple[str, int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, "") for a in node.names if a.name in modules]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, name, path)
            if source not in modules:
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.append((sub if sub in modules else source, node.lineno, source))
    return tuple(found)


def unit_of(module: str) -> str:
    """`kernel`, a room or a feature: the package under publisher/, or the kernel for a
    top-level module."""
    parts = module.split(".")
    if module == "publisher.cli":
        return "cli"
    if len(parts) == 1 or (len(parts) == 2 and not (PACKAGE / parts[1]).is_dir()):
        return "kernel"
    return parts[1]


def _may_import(unit: str) -> set[str]:
    allowed = ROOMS.get(unit) or FEATURES.get(unit) or ()
    return {"kernel", unit, *allowed}


def test_every_package_has_a_place_in_the_layering():
    units = {unit_of(m) for m in _modules()}
    assert units <= {"kernel", *ROOMS, *FEATURES}, units - {"kernel", *ROOMS, *FEATURES}


def test_the_room_table_is_ordered_bottom_up():
    """A room names only rooms above it in the table, so rooms form no cycle."""
    order = list(ROOMS)
    for room, allowed in ROOMS.items():
        assert all(order.index(other) < order.index(room) for other in allowed), room
    order = list(FEATURES)
    for feature, allowed in FEATURES.items():
        lower = [a for a in allowed if a in FEATURES]
        assert all(order.index(other) < order.index(feature) for other in lower), feature


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_no_module_imports_upward():
    wrong = []
    for module in _modules():
        unit = unit_of(module)
        for imported, line, _ in _imports(module):
            target = unit_of(imported)
            if target in _may_import(unit):
                continue
            fact = FACT_MODULES.get(imported)
            if fact is not None and fact[0] == unit:
                continue
            wrong.append(f"{module}:{line} ({unit}) imports {imported} ({target})")
    assert not wrong, "\n".join(wrong)


def test_fact_modules_import_only_the_kernel():
    for module in FACT_MODULES:
        above = [
            m for m, _, _ in _imports(module) if unit_of(m) != "kernel" and m not in FACT_MODULES
        ]
        assert not above, f"{module} imports {above}: it can no longer be read from below"


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_no_import_cycle_between_modules():
    graph = {m: {i for i, _, _ in _imports(m) if i != m} for m in _modules()}
    cycles = [c for c in _cycles(graph) if frozenset(c) not in KNOWN_CYCLES]
    assert not cycles, "import cycles: " + "; ".join(" ↔ ".join(sorted(c)) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_siblings_are_imported_by_module_path_not_through_their_package():
    """`from publisher.render import numbers` runs render/__init__.py first, which may still be
    importing the very module asking; `from publisher.render.numbers import …` does not."""
    wrong = []
    for module, path in _modules().items():
        package = _package_of(module, path)
        if path.name == "__init__.py" or package == "publisher":
            continue
        wrong += [f"{module}:{line}" for _, line, frm in _imports(module) if frm == package]
    assert not wrong, "\n".join(wrong)


def test_the_root_package_imports_nothing_of_its_own():
    """So `from publisher import __version__, console` is always safe."""
    assert _imports("publisher") == ()


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_no_test_file_imports_another():
    """What tests share lives in tests/support/ (helpers) or tests/doubles/ (stand-ins);
    fixtures reach test files through conftest.py's pytest_plugins, never by import."""
    test_modules = {p.stem for p in TESTS.rglob("test_*.py")} | {"conftest"}
    wrong = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            wrong += [
                f"{path.relative_to(TESTS)}:{node.lineno} imports {n}"
                for n in names
                if n.rpartition(".")[2] in test_modules and not n.startswith("publisher")
            ]
    assert not wrong, "\n".join(wrong)
