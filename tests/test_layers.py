"""hrlkit stays layered (hrlkit/__init__.py): a module imports hrlkit modules of its own layer or the layers above it
(lower numbers), never of a layer below, and the module import graph has no cycle."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "hrlkit"

# top-level hrlkit module or sub-package -> layer (hrlkit/__init__.py); pipeline is the DVC entry point
LAYERS = {"seeding": 1, "provenance": 1, "params": 1, "store": 1, "spec": 1, "stats": 2, "display": 3, "claims": 3, "runs": 3,
          "figures": 3, "parallel": 4, "runner": 4, "tune": 4, "rl": 5, "mbrl": 5, "envs": 5, "lm": 5, "tasks": 5, "games": 5, "preference": 5, "report": 6, "pipeline": 6}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def hrlkit_imports(path: Path) -> set[str]:
    """hrlkit modules imported anywhere in the file (deferred imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("hrlkit.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hrlkit"):
            if node.module == "hrlkit":
                found |= {f"hrlkit.{a.name}" for a in node.names}
            else:
                found.add(node.module)
    return found


def top(module: str) -> str:
    return module.split(".")[1]


GRAPH = {module_name(p): hrlkit_imports(p) for p in ROOT.rglob("*.py") if p.parent.name != "__pycache__"}


def test_every_top_level_module_has_a_layer():
    assert {top(m) for m in GRAPH if m != "hrlkit"} <= set(LAYERS)


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m != "hrlkit"))
def test_no_import_from_a_lower_layer(module):
    bad = [dep for dep in GRAPH[module] if LAYERS[top(dep)] > LAYERS[top(module)]]
    assert not bad, f"{module} (layer {LAYERS[top(module)]}) imports lower-layer modules {bad}"


def modules_in_cycles(edges: dict[str, set[str]]) -> list[str]:
    """Modules left over by Kahn's topological sort of ``module -> imported modules``: empty iff acyclic."""
    indegree = {m: 0 for m in edges}
    for deps in edges.values():
        for d in deps:
            indegree[d] += 1
    ready = [m for m, k in indegree.items() if k == 0]
    while ready:
        m = ready.pop()
        for d in edges[m]:
            indegree[d] -= 1
            if indegree[d] == 0:
                ready.append(d)
    return sorted(m for m, k in indegree.items() if k > 0)


def test_import_graph_is_acyclic():
    edges = {m: {d for d in deps if d in GRAPH and d != m} for m, deps in GRAPH.items()}
    assert modules_in_cycles(edges) == []


def test_the_checks_can_fail(tmp_path):
    assert modules_in_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c"]
    f = tmp_path / "x.py"
    f.write_text("from hrlkit.report import render_html\nimport hrlkit.rl.core\nfrom hrlkit import stats\n")
    assert hrlkit_imports(f) == {"hrlkit.report", "hrlkit.rl.core", "hrlkit.stats"}
