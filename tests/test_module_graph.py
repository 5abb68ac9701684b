"""The library's modules import one another in one direction: no cycle, not even one hidden by
an import inside a function (a cycle makes a module's meaning depend on import order)."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def imports_of_the_package() -> dict[str, set[str]]:
    graph = {}
    for path in (SRC / "layermaps").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "layermaps":
                for a in node.names:  # `from layermaps.data import sources` names a module
                    sub = f"{node.module}.{a.name}"
                    is_module = SRC.joinpath(*sub.split(".")).with_suffix(".py").is_file()
                    found.add(sub if is_module else node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("layermaps."))
        graph[name] = found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_modules_import_each_other_in_one_direction():
    graph = imports_of_the_package()
    assert {"layermaps.data.datasets", "layermaps.data.transforms", "layermaps.plan"} <= set(graph)
    assert "layermaps.data.datasets" in graph["layermaps.data.transforms"]
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
