"""Code fingerprints: a rule's result depends on the library code its script runs, so that
code goes into the rule's `params:` (Snakemake's params trigger) and an edit reruns exactly
the jobs whose results it can change.

`code_version(script, *roots, packages=...)` parses (never imports) the rule's script and
follows every name it uses from `layermaps` (functions, classes, constants, base classes,
across modules), starting also from `roots` (e.g. the one reducer class of an embed job).
The digest covers each definition's AST without docstrings, positions or the module it lives
in, so reformatting, editing a comment or moving code between modules changes nothing.
Code that only records results (MLflow runs, logs) and the reducer registry (each embed job
adds its own class as a root) are left out. The versions of the packages whose result it is
come from package metadata: they are the versions of the machine that plans the jobs.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import os
import re
import sys
from functools import cache
from pathlib import Path

PACKAGE = "layermaps"
SRC = Path(__file__).resolve().parents[1]  # the folder that holds the layermaps package
# Modules whose code only records what a job did (MLflow runs, logs): never part of a result.
RECORDING_MODULES = (
    "layermaps.tracking.jobs",
    "layermaps.tracking.store",
    "layermaps.tracking.display",
    "layermaps.errors",
    "layermaps.guards",
)
# Registries: a job uses one entry of them, which its rule names as a root.
REGISTRIES = ("REDUCERS",)
# Distributions of the libraries whose numbers each kind of job depends on (a reducer class
# lists its own in `packages`). tests/test_fingerprint.py checks they cover the imports.
STAGE_PACKAGES = {
    "data": ("numpy", "scikit-learn"),
    "train": ("tensorflow-cpu", "keras", "numpy", "scikit-learn"),  # sklearn: a shuffled split
    "score": ("numpy", "scikit-learn", "scipy"),
    "neighbors": ("numpy", "faiss-cpu"),
    "figures": ("numpy", "matplotlib", "pillow", "scikit-learn"),
    "model_figures": ("numpy", "matplotlib", "pillow", "tensorflow-cpu", "keras"),  # a model predicts
    "tables": (),
    # layer measures: the probe, the neighbour searches, intrinsic dimension, CKA's heatmap
    "measures": ("numpy", "scikit-learn", "scipy", "faiss-cpu", "scikit-dimension", "matplotlib"),
    "report": ("pyyaml",),  # summary.md: the documents' numbers are read from reference.yaml
    "explorer": ("numpy", "pillow", "scikit-learn", "bokeh"),  # kNN votes, the image sheet, the page
    # the aligned animation of snapshots: UMAP fits (embed.reducers.UMAPReducer.packages) and a GIF
    "aligned": (
        "numpy",
        "umap-learn",
        "pynndescent",
        "numba",
        "scikit-learn",
        "scipy",
        "matplotlib",
        "pillow",
    ),
}


class _Module:
    """One parsed file of the package: its top-level definitions and the names it imports."""

    def __init__(self, name: str, tree: ast.Module):
        self.name, self.defs = name, {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.defs[target.id] = node
        self.imports = _imports(ast.walk(tree), name)
        # module-level `import numpy as np` / `from sklearn.x import y`: alias -> top module
        self.external = {
            a.asname or a.name.split(".")[0]: _top(node, a)
            for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for a in node.names
            if _top(node, a) not in (PACKAGE, "__future__", "")
        }


def _top(node, alias) -> str:
    if isinstance(node, ast.Import):
        return alias.name.split(".")[0]
    return "" if node.level else (node.module or "").split(".")[0]


@cache
def _module_file(module: str) -> Path | None:
    base = SRC.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _absolute(module: str | None, level: int, current: str) -> str:
    if not level:
        return module or ""
    return ".".join(current.split(".")[:-level] + ([module] if module else []))


def _imports(nodes, current: str) -> dict[str, tuple[str, str | None]]:
    """alias -> (module, name) for `from m import name`, (module, None) for a module alias;
    only imports of the package itself (`nodes`: every node of a tree)."""
    out = {}
    for n in nodes:
        if isinstance(n, ast.ImportFrom):
            module = _absolute(n.module, n.level, current)
            if module.split(".")[0] != PACKAGE:
                continue
            for a in n.names:
                sub = f"{module}.{a.name}"
                out[a.asname or a.name] = (sub, None) if _module_file(sub) else (module, a.name)
        elif isinstance(n, ast.Import):
            for a in n.names:
                if a.name.split(".")[0] == PACKAGE and a.asname:
                    out[a.asname] = (a.name, None)
    return out


class _Normalize(ast.NodeTransformer):
    """Drop what does not change behaviour: docstrings, which package module an import names
    (moving code between modules must not change the digest) and the order of the names one
    import lists (`ruff check --fix` sorts them). Works in place."""

    def _strip_docstring(self, node):
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Module = _strip_docstring

    def visit_ImportFrom(self, node):
        node.names = sorted(node.names, key=lambda a: (a.name, a.asname or ""))
        if node.level or (node.module or "").split(".")[0] == PACKAGE:
            return ast.ImportFrom(module=PACKAGE, names=node.names, level=0)
        return node


# Class members that only decide, while the DAG is built, whether a config is accepted: a
# reducer's settings rules (Reducer.check_settings and the attributes only it reads). No job
# runs or reads them, so neither they nor what they use are part of a job's result: tightening
# a rule reruns nothing. Left out of a class's digest, like the recording modules;
# tests/test_fingerprint.py checks that no code a job runs reads one of them.
PLANNING_ONLY_MEMBERS = ("check_settings", "own_types", "whole_numbers", "nested_settings")


def _is_planning_only(item: ast.stmt) -> bool:
    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return item.name in PLANNING_ONLY_MEMBERS
    targets = item.targets if isinstance(item, ast.Assign) else [getattr(item, "target", None)]
    names = [t.id for t in targets if isinstance(t, ast.Name)]
    return bool(names) and len(names) == len(targets) and set(names) <= set(PLANNING_ONLY_MEMBERS)


def drop_planning_only(node: ast.AST) -> ast.AST:
    """`node` with the planning-only members of each class in it removed (in place)."""
    for n in ast.walk(node):
        if isinstance(n, ast.ClassDef):
            n.body = [item for item in n.body if not _is_planning_only(item)] or [ast.Pass()]
    return node


def _analyse(node: ast.AST, module: _Module) -> tuple[str, list, list]:
    """(sha256 of the normalized AST dump, package definitions used as sorted (module, name)
    pairs, external modules imported or used). Normalizes `node` in place: call once."""
    drop_planning_only(node)
    nodes = list(ast.walk(node))
    imports = {**module.imports, **_imports(nodes, module.name)}
    refs, external = set(), set()
    for n in nodes:
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
            target = imports.get(n.value.id)
            if target and target[1] is None:  # module_alias.name
                refs.add((target[0], n.attr))
        elif isinstance(n, ast.Name):
            if n.id in imports and imports[n.id][1] is not None:
                refs.add(imports[n.id])
            elif n.id in module.defs:
                refs.add((module.name, n.id))
            elif n.id in module.external:
                external.add(module.external[n.id])
        elif isinstance(n, ast.Import):
            external.update(a.name.split(".")[0] for a in n.names)
        elif isinstance(n, ast.ImportFrom) and not n.level and n.module:
            external.add(n.module.split(".")[0])
    dump = ast.dump(_Normalize().visit(node), annotate_fields=False, include_attributes=False)
    digest = hashlib.sha256(dump.encode()).hexdigest()
    return digest, sorted(refs), sorted(external - {PACKAGE, "__future__"})


# Parsing every file at each `snakemake -n` costs a quarter of a second, so each file's
# analysis is kept next to its bytecode (__pycache__), valid for the exact source it was made
# from (a hash of the file: mtimes and sizes can repeat across quick edits).
_CACHE_FORMAT = 4  # 2: planning-only methods left out; 3: and attributes; 4: import names sorted


def _cached_analysis(path: Path, analyse):
    """analyse(source bytes) -> JSON-able value, stored in __pycache__ beside `path`."""
    source = path.read_bytes()
    key = {
        "format": _CACHE_FORMAT,
        "python": list(sys.version_info[:2]),
        "source": hashlib.sha256(source).hexdigest(),
    }
    cache = path.parent / "__pycache__" / f"{path.stem}.fingerprint.json"
    try:
        stored = json.loads(cache.read_text())
        if stored["key"] == key:
            return stored["value"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    value = analyse(source)
    try:  # atomic: jobs on a cluster may plan at the same time
        cache.parent.mkdir(exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "value": value}))
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only checkout: no cache, same result
    return value


def _stored(analysis) -> tuple:
    digest, refs, external = analysis
    return digest, [tuple(r) for r in refs], external


@cache
def _definitions(module_name: str) -> dict[str, tuple] | None:
    """name -> (digest, package definitions used, external modules) for each top-level
    definition of a module of the package; None if there is no such module."""
    path = _module_file(module_name)
    if path is None:
        return None

    def analyse(source):
        module = _Module(module_name, ast.parse(source, filename=str(path)))
        return {name: _analyse(node, module) for name, node in module.defs.items()}

    return {name: _stored(a) for name, a in _cached_analysis(path, analyse).items()}


def _definition(module_name: str, name: str):
    """None for a name bound some other way (e.g. by a loop): nothing to follow."""
    return (_definitions(module_name) or {}).get(name)


@cache
def _script(path: Path):
    def analyse(source):
        tree = ast.parse(source, filename=str(path))
        return _analyse(tree, _Module("__script__", tree))

    return _stored(_cached_analysis(path, analyse))


def _is_recording(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in RECORDING_MODULES)


def used_definitions(script: str | Path, *roots: str) -> tuple[str, dict[tuple[str, str], str], set[str]]:
    """(digest of the script's normalized AST, (module, name) -> digest of each package
    definition the script and `roots` ('package.module.Name') use, external modules they
    import or use)."""
    script_dump, pending, external = _script(Path(script).resolve())
    pending, external = set(pending), set(external)
    for root in roots:
        module, _, name = root.rpartition(".")
        if _definition(module, name) is None:
            raise ValueError(f"fingerprint root {root!r} is not a definition in {SRC}")
        pending.add((module, name))
    seen, dumps = set(), {}
    while pending:
        key = pending.pop()
        if key in seen or _is_recording(key[0]) or key[1] in REGISTRIES:
            continue
        seen.add(key)
        if (found := _definition(*key)) is not None:
            dump, refs, ext = found
            dumps[key] = dump
            external.update(ext)
            pending.update(refs)
    return script_dump, dumps, external


def closure(script: str | Path, *roots: str) -> tuple[list[tuple[str, str]], set[str]]:
    """The package definitions the script and `roots` use, as sorted (name, digest of its
    normalized AST) pairs, and the external modules they import or use."""
    script_dump, dumps, external = used_definitions(script, *roots)
    return sorted([("__script__", script_dump), *((key[1], d) for key, d in dumps.items())]), external


@cache
def _version(distribution: str) -> str | None:
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    # the Version header alone: parsing the whole METADATA costs milliseconds per package
    header = (dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "").split("\n\n", 1)[0]
    found = re.search(r"^Version:\s*(\S+)", header, re.M)
    return found.group(1) if found else dist.version


def package_versions(packages) -> dict[str, str | None]:
    return {name: _version(name) for name in sorted(set(packages))}


@cache
def code_version(script: str | Path, *roots: str, packages: tuple[str, ...] = ()) -> dict:
    """{"digest": of the code the job runs, "packages": {distribution: version}}:
    plain JSON for a rule's params."""
    definitions, _ = closure(script, *roots)
    text = "\n".join(f"{name}\0{dump}" for name, dump in definitions)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return {"digest": digest, "packages": package_versions(packages)}


def class_code(script: str | Path, cls: type) -> dict:
    """`code_version` of a script that runs one class of the library (an embed job: one
    reducer), with that class's own packages (`cls.packages`)."""
    return code_version(script, f"{cls.__module__}.{cls.__qualname__}", packages=cls.packages)
