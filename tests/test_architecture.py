"""The package's shape: a one-way import graph, small modules, no references outside the repo.

The import graph is computed from the source (ast), counting imports inside functions too
(a deferred import that dodges a cycle is still a cycle), but not those under
``if TYPE_CHECKING:``. Importing ``a.b.c`` from outside package ``a.b`` also runs
``a.b/__init__.py``, so that counts as an edge to the package as well.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"warp_phys": ROOT / "warp_phys", "warp_phys.systems": ROOT / "systems",
            "warp_phys.priors": ROOT / "priors"}
#: What systems/ and priors/ may use from the core: the small utility layer.
UTILITY_LAYER = {"warp_phys", "warp_phys._version", "warp_phys.device", "warp_phys.registry",
                 "warp_phys.validation", "warp_phys.scaling",
                 # the quadratic library and its running least-squares fit (torch only): the
                 # "lstsq" transition input and the "quadratic" prior share them
                 "warp_phys.transition_inputs"}


def _modules() -> dict[str, Path]:
    out = {}
    for prefix, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([prefix, *parts])
            if name.startswith("warp_phys.systems") and folder.name == "warp_phys":
                continue
            out[name] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found: set[str] = set()
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                mod = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    targets = set()
    for imp in found:
        if imp in MODULES and imp != name:
            targets.add(imp)
            parts = imp.split(".")
            for k in range(2, len(parts)):  # parent packages the importer is not inside
                parent = ".".join(parts[:k])
                if parent in MODULES and not name.startswith(parent + ".") and parent != name:
                    targets.add(parent)
    return targets


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_graph_is_read_from_the_source():
    # the graph must see the edges we know exist, or the acyclicity test proves nothing
    assert "warp_phys.pipeline.engine" in GRAPH["warp_phys.workflow"] or "warp_phys.pipeline" in GRAPH["warp_phys.workflow"]
    assert "warp_phys.systems.base" in GRAPH["warp_phys.systems.lorenz"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_import_graph_is_acyclic():
    assert _find_cycle(GRAPH) is None, f"import cycle: {' -> '.join(_find_cycle(GRAPH))}"


@pytest.mark.parametrize("layer", ["warp_phys.systems", "warp_phys.priors"])
def test_systems_and_priors_use_only_the_utility_layer(layer):
    allowed = UTILITY_LAYER | {m for m in MODULES if m.startswith("warp_phys.systems")}
    bad = {(mod, dep) for mod, deps in GRAPH.items() if mod.startswith(layer)
           for dep in deps if dep not in allowed and not dep.startswith(layer)}
    assert not bad, sorted(bad)


def test_no_module_over_400_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 400}
    assert not long, long


def test_source_does_not_point_outside_the_repository():
    offenders = [str(p.relative_to(ROOT)) for p in [*MODULES.values(), *ROOT.glob("benchmarks/*.py"),
                                                    *ROOT.glob("tutorials/*.py")]
                 if "DESIGN" in p.read_text()]
    assert not offenders, offenders
