"""layermaps.data's modules import one another in one direction (idx <- sources <- datasets <-
transforms, download, cache, checks), counting every import a module makes: at its top or
inside a function, `from layermaps.data import sources` or `from layermaps.data.sources import
x`, absolute or relative. A cycle hidden inside a function makes a module's meaning depend on
which one is imported first (issue 30: datasets and transforms imported each other)."""

import ast
from pathlib import Path

from test_module_graph import cycles

DATA = Path(__file__).resolve().parents[1] / "src/layermaps/data"
PACKAGE = "layermaps.data"


def _is_data_module(name: str) -> bool:
    package, _, stem = name.rpartition(".")
    return package == PACKAGE and (DATA / f"{stem}.py").is_file()


def data_imports(source: str) -> set[str]:
    """The layermaps.data modules a module of that package imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative to layermaps.data, whose modules are all this reads
                base = ".".join(filter(None, (PACKAGE.rsplit(".", node.level - 1)[0], node.module)))
            for alias in node.names:  # `from layermaps.data import sources` names a module
                found.update(m for m in (f"{base}.{alias.name}", base) if _is_data_module(m))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if _is_data_module(a.name))
    return found


def data_graph() -> dict[str, set[str]]:
    graph = {}
    for path in DATA.glob("*.py"):
        if path.stem != "__init__":
            name = f"{PACKAGE}.{path.stem}"
            graph[name] = data_imports(path.read_text()) - {name}
    return graph


def test_the_data_modules_import_each_other_in_one_direction():
    graph = data_graph()
    assert {f"{PACKAGE}.{m}" for m in ("datasets", "transforms", "sources", "idx")} <= set(graph)
    assert cycles(graph) == []
    assert f"{PACKAGE}.transforms" not in graph[f"{PACKAGE}.datasets"]


def test_every_form_of_import_is_an_edge():
    """A function-level import of each form, as a cycle would come back."""
    forms = (
        "def f():\n    from layermaps.data import transforms",
        "def f():\n    from layermaps.data.transforms import InputTransform",
        "def f():\n    import layermaps.data.transforms",
        "def f():\n    from .transforms import InputTransform",
        "def f():\n    from . import transforms",
    )
    for form in forms:
        assert data_imports(form) == {f"{PACKAGE}.transforms"}, form
    others = "from layermaps.atomic import NpzRecord\nfrom .. import paths\nimport numpy"
    assert data_imports(others) == set()
