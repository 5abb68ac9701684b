"""The types a reducer's settings may have, read from its library's own signature.

Cheap on purpose: the config is checked with it while Snakemake builds the DAG (no library is
imported). Each reducer class says which settings it handles itself and which its library needs
as whole numbers (layermaps.embed.reducers.Reducer.check_settings); this module reads the rest.
"""

from __future__ import annotations

import json

# A reducer's settings go to its library's estimator (Reducer.library, "module:Class"). Their
# types come from that estimator's own signature: each parameter's default, widened by the
# type its docstring documents where the docstring says one (openTSNE's perplexity defaults to
# 30 and is a float). Read from the source with `ast`, never by importing the library (seconds).
# Settings a reducer class handles itself, and those its library needs as whole numbers, are
# the class's own (layermaps.embed.reducers: own_types, whole_numbers, nested_settings).
_KIND_WORDS = {
    "float": {"int", "float"},
    "int": {"int"},
    "integer": {"int"},
    "bool": {"bool"},
    "str": {"str"},
    "string": {"str"},
    "tuple": {"list"},
    "list": {"list"},
    "array": {"list"},
    "ndarray": {"list"},
    "dict": {"dict"},
    "none": {"none"},
}
_TYPE_VOCABULARY = set(_KIND_WORDS) | {
    "or",
    "union",
    "optional",
    "np",
    "numpy",
    "callable",
    "function",
    "randomstate",
    "instance",
    "of",
    "shape",
}
_KIND_NAMES = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "list": "a list",
    "dict": "a mapping",
    "none": "null",
}
_VALUE_NAMES = {**_KIND_NAMES, "float": "a decimal number", "bool": "a boolean", "str": "a string (quoted)"}


def kind_of(value) -> str:
    """A YAML value's kind: int, float, bool, str, list, dict or none."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    return "dict" if isinstance(value, dict) else type(value).__name__


def _documented_kinds(doc: str, name: str) -> set[str]:
    """The kinds a numpydoc-style docstring gives a parameter (`name : float or str`), or none
    when it gives no type (TriMAP's docstring describes parameters in prose)."""
    import re

    for line in doc.splitlines():
        m = re.match(rf"\s*{re.escape(name)}\s*:\s*(.*)", line)
        if not m:
            continue
        text = re.split(r"\(|,?\s*default\b|,\s*optional", m.group(1))[0]
        text = re.sub(r"'[^']*'|\"[^\"]*\"|\{[^}]*\}", " str ", text)  # literal choices
        words = [w.lower() for w in re.findall(r"[A-Za-z]+", text)]
        if not words or any(w not in _TYPE_VOCABULARY for w in words):
            return set()
        return set().union(*(_KIND_WORDS.get(w, set()) for w in words))
    return set()


def _find_function(library: str):
    """(function node, docstring of its class and itself) of "module:Class" (its __init__) or
    "module:Class.method", read from the installed package's source without importing it."""
    import ast
    import importlib.util
    import re
    from pathlib import Path

    module, _, qualname = library.partition(":")
    cls_name, _, method = qualname.partition(".")
    parts = module.split(".")
    spec = importlib.util.find_spec(parts[0])  # a top-level package: found, not imported
    if spec is None or not spec.origin:
        return None
    root = Path(spec.origin).parent.joinpath(*parts[1:])
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
    for path in files:
        text = path.read_text(errors="replace")
        start = re.search(rf"^class {re.escape(cls_name)}\b", text, re.M)
        if not start:
            continue
        # parse the class alone: up to the next line that starts a top-level statement
        end = re.compile(r"^[^\s#)\]}]", re.M).search(text, text.index("\n", start.start()) + 1)
        try:
            node = ast.parse(text[start.start() : end.start() if end else len(text)]).body[0]
        except SyntaxError:
            continue
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == (method or "__init__"):
                return item, (ast.get_docstring(node) or "") + "\n" + (ast.get_docstring(item) or "")
    return None


_SIGNATURES: dict[str, dict] = {}


def library_settings(library: str) -> dict[str, tuple[set[str], object]]:
    """parameter -> (the kinds it takes, its default) of a library's estimator (or method);
    {} when its source cannot be read (then nothing is checked)."""
    import ast

    if library in _SIGNATURES:
        return _SIGNATURES[library]
    found, out = _find_function(library), {}
    if found is not None:
        fn, doc = found
        a = fn.args
        positional = a.posonlyargs + a.args
        defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        for arg, node in [*zip(positional, defaults), *zip(a.kwonlyargs, a.kw_defaults)]:
            if arg.arg in ("self", "X") or node is None:
                continue
            try:
                default = ast.literal_eval(node)
            except ValueError:  # np.inf and the like: the docstring alone says
                default = None
            kinds = set() if default is None else {kind_of(default)}
            if kinds == {"float"}:
                kinds = {"int", "float"}
            documented = _documented_kinds(doc, arg.arg)
            if default is None and not documented:
                kinds = {"any"}
            out[arg.arg] = (kinds | documented | ({"none"} if default is None else set()), default)
    _SIGNATURES[library] = out
    return out


def type_problem(where: str, value, kinds: set[str], default, library: str) -> str | None:
    if "any" in kinds:
        return None
    kind = kind_of(value)
    if kind in kinds or (kind == "float" and "int" in kinds and "float" in kinds):
        return None
    expected = " or ".join(
        _KIND_NAMES[k]
        for k in ("int", "float", "bool", "str", "list", "dict", "none")
        if k in kinds and not (k == "int" and "float" in kinds)
    )
    hint = ""
    if kind == "str":
        import yaml

        try:
            unquoted = yaml.safe_load(value)
        except yaml.YAMLError:
            unquoted = value
        if kind_of(unquoted) in kinds and kind_of(unquoted) != "str":
            hint = f" Write it without quotes: {where.rsplit('.', 1)[-1]}: {value}."
    shown = library if library.startswith("layermaps") else library.replace(":", ".")
    return (
        f"{where} = {json.dumps(value, default=str)} is {_VALUE_NAMES.get(kind, kind)}; "
        f"{shown} takes {expected}"
        + (f" (its default: {json.dumps(default)})" if default is not None else "")
        + "."
        + hint
    )
