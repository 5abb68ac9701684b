"""Config checks that run when Snakemake builds the DAG: cheap imports only.

The JSON schema (workflow/schemas/config.schema.yaml) catches wrong keys and types; this
module turns its errors into one line a person can act on, and checks what a schema cannot:
names that refer to other parts of the config.
"""

from __future__ import annotations

import json


class ConfigError(ValueError):
    expected = True  # the user's to fix: one message (layermaps.errors)


def _path(error) -> str:
    parts = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else ("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def explain(error, config_name: str = "config") -> str:
    """One readable message from a jsonschema ValidationError: key, value, what is allowed."""
    from jsonschema.exceptions import best_match

    if error.context and all(c.absolute_path == error.absolute_path for c in error.context):
        # every alternative (oneOf: null or an integer >= 20) fails at the value itself: say them all
        branches = error.schema.get("oneOf") or error.schema.get("anyOf") or []
        wanted = [_describe(b) for b in branches]
        if branches and all(wanted):
            value = json.dumps(error.instance, default=str)
            return (f"invalid {config_name}: {_path(error)} = {value[:120]}: expected "
                    f"{' or '.join(wanted)}.{_number_hint(error.instance)}")
    error = best_match([error] + list(error.context or [])) if error.context else error
    if error.validator == "additionalProperties":
        known = sorted((error.schema.get("properties") or {}).keys())
        extra = sorted(set(error.instance) - set(known))
        return (f"invalid {config_name}: unknown key(s) {', '.join(map(repr, extra))} in "
                f"{_path(error)} (Additional properties are not allowed). "
                f"Allowed keys: {', '.join(known)}.")
    value = json.dumps(error.instance, default=str)
    if error.validator == "not":  # the schema's only `not`: names kept for the workflow's own use
        return (f"invalid {config_name}: {_path(error)}: the name {value} is reserved "
                f"({error.validator_value.get('const', '')!r} is the workflow's own); choose another.")
    if len(value) > 120:
        value = value[:117] + "..."
    schema = error.schema
    allowed = ""
    if "enum" in schema:
        allowed = f" Allowed: {', '.join(map(str, schema['enum']))}."
    elif "description" in schema:
        allowed = f" Expected: {schema['description']}."
    return (f"invalid {config_name}: {_path(error)} = {value}: {error.message}.{allowed}"
            f"{_number_hint(error.instance)}")


def _number_hint(instance) -> str:
    if isinstance(instance, str):
        try:
            float(instance)
            return " (YAML reads a number like 1e-3 as a string: write 1.0e-3.)"
        except ValueError:
            pass
    return ""


def _describe(schema: dict) -> str | None:
    """A schema alternative in words ("null", "an integer >= 20"), or None if it is not simple."""
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    names = {"null": "null", "integer": "an integer", "number": "a number", "boolean": "true or false",
             "string": "a string", "array": "a list", "object": "a mapping"}
    kind = schema.get("type")
    if not isinstance(kind, str) or kind not in names:
        return None
    limits = [f"{op} {schema[k]}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                ("maximum", "<="), ("exclusiveMaximum", "<")) if k in schema]
    return names[kind] + (" " + " and ".join(limits) if limits else "")


def validate_config(config: dict, schema_path: str) -> None:
    """snakemake.utils.validate (which also fills schema defaults), with readable errors."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(config, schema=schema_path)
    except WorkflowError:
        # Snakemake flattens the jsonschema error into text: validate again to get the object.
        import jsonschema
        import yaml
        from jsonschema.exceptions import best_match

        with open(schema_path) as f:
            schema = yaml.safe_load(f)
        error = best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
        if error is None:
            raise
        raise ConfigError(explain(error)) from None


def checked(function, *args):
    """Call a config-reading function; its ValueError becomes a ConfigError naming the config."""
    try:
        return function(*args)
    except ValueError as err:
        raise ConfigError(f"invalid config: {err}") from None


def check_names(config: dict, models: dict) -> None:
    """Names that refer to other parts of the config must exist."""
    from layermaps.embed.reducers import reducer_class

    for name, settings in config["reducers"].items():
        try:
            cls, lib_settings = reducer_class(name, settings)  # a method, or a variant of one
            check_reducer_types(name, cls, lib_settings)  # each value's type, by its library
            cls(seed=0, **lib_settings)  # cheap: checks the setting names only
        except (TypeError, ValueError) as err:
            if isinstance(err, ConfigError):
                raise
            raise ConfigError(f"invalid config: reducers.{name}: {err}") from None
    wanted = config["embed"]["models"]
    if wanted != "all":
        missing = [m for m in wanted if m not in models]
        if missing:
            raise ConfigError(f"invalid config: embed.models names unknown model(s) "
                              f"{', '.join(missing)}. Models in this config: {', '.join(models) or 'none'}.")


# ---------------------------------------------------------------- reducer setting types
# A reducer's settings go to its library's estimator (Reducer.library, "module:Class"). Their
# types come from that estimator's own signature: each parameter's default, widened by the
# type its docstring documents where the docstring says one (openTSNE's perplexity defaults to
# 30 and is a float). Read from the source with `ast`, never by importing the library (seconds).
# Settings a reducer class handles itself, and the library parameters the workflow needs as an
# int whatever a docstring says (a neighbour count also sizes the shared graph), are listed here.
OWN_SETTINGS = {"tsne": {"transform": {"dict"}},
                "trimap": {"out_of_sample": {"str"}, "knn_k": {"int"}}}
NESTED_SETTINGS = {("tsne", "transform"): "openTSNE:TSNEEmbedding.transform"}
WHOLE_NUMBERS = {("umap", "n_neighbors"), ("pacmap", "n_neighbors")}
_KIND_WORDS = {"float": {"int", "float"}, "int": {"int"}, "integer": {"int"}, "bool": {"bool"},
               "str": {"str"}, "string": {"str"}, "tuple": {"list"}, "list": {"list"},
               "array": {"list"}, "ndarray": {"list"}, "dict": {"dict"}, "none": {"none"}}
_TYPE_VOCABULARY = set(_KIND_WORDS) | {"or", "union", "optional", "np", "numpy", "callable",
                                       "function", "randomstate", "instance", "of", "shape"}
_KIND_NAMES = {"int": "a whole number", "float": "a number", "bool": "true or false",
               "str": "a string", "list": "a list", "dict": "a mapping", "none": "null"}
_VALUE_NAMES = {**_KIND_NAMES, "float": "a decimal number", "bool": "a boolean",
                "str": "a string (quoted)"}


def _kind(value) -> str:
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
            node = ast.parse(text[start.start():end.start() if end else len(text)]).body[0]
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
            kinds = set() if default is None else {_kind(default)}
            if kinds == {"float"}:
                kinds = {"int", "float"}
            documented = _documented_kinds(doc, arg.arg)
            if default is None and not documented:
                kinds = {"any"}
            out[arg.arg] = (kinds | documented | ({"none"} if default is None else set()), default)
    _SIGNATURES[library] = out
    return out


def _type_problem(where: str, value, kinds: set[str], default, library: str) -> str | None:
    if "any" in kinds:
        return None
    kind = _kind(value)
    if kind in kinds or (kind == "float" and "int" in kinds and "float" in kinds):
        return None
    expected = " or ".join(_KIND_NAMES[k] for k in ("int", "float", "bool", "str", "list", "dict", "none")
                           if k in kinds and not (k == "int" and "float" in kinds))
    hint = ""
    if kind == "str":
        import yaml

        try:
            unquoted = yaml.safe_load(value)
        except yaml.YAMLError:
            unquoted = value
        if _kind(unquoted) in kinds and _kind(unquoted) != "str":
            hint = f" Write it without quotes: {where.rsplit('.', 1)[-1]}: {value}."
    shown = library if library.startswith("layermaps") else library.replace(":", ".")
    return (f"invalid config: {where} = {json.dumps(value, default=str)} is {_VALUE_NAMES.get(kind, kind)}; "
            f"{shown} takes {expected}"
            + (f" (its default: {json.dumps(default)})" if default is not None else "") + "." + hint)


def check_reducer_types(name: str, cls, settings: dict) -> None:
    """Each setting of reducer `name` (class cls) has a type its library takes."""
    library = cls.library
    signature = library_settings(library) if library else {}
    own = OWN_SETTINGS.get(cls.name, {})
    for key, value in settings.items():
        where = f"reducers.{name}.{key}"
        if key in own:
            kinds, default, lib = own[key], None, f"layermaps' {cls.__name__}"
        elif key in signature:
            (kinds, default), lib = signature[key], library
        else:
            continue  # an unknown name is refused by the class itself
        if (cls.name, key) in WHOLE_NUMBERS:
            kinds = (kinds - {"float"}) | {"int"}
        problem = _type_problem(where, value, kinds, default, lib)
        if problem:
            raise ConfigError(problem)
        nested = NESTED_SETTINGS.get((cls.name, key))
        if nested and isinstance(value, dict):
            inner = library_settings(nested)
            for k, v in value.items():
                if k in inner:
                    problem = _type_problem(f"{where}.{k}", v, inner[k][0], inner[k][1], nested)
                    if problem:
                        raise ConfigError(problem)


# ---------------------------------------------------------------- config files, overrides
def _unique_key_loader():
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """A SafeLoader that refuses a mapping with the same key twice (YAML keeps the last)."""

        path: list = []

    def construct_mapping(loader, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue
            if key in seen:
                raise _DuplicateKey(key, seen[key], key_node.start_mark.line + 1)
            seen[key] = key_node.start_mark.line + 1
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return UniqueKeyLoader


class _DuplicateKey(Exception):
    def __init__(self, key, first: int, line: int):
        self.key, self.first, self.line = key, first, line


def _key_path(text: str, line: int) -> str:
    """The dotted path of the key on `line` (1-based) of a block-style YAML text, from indents."""
    import re

    path: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        m = re.match(r"^(\s*)(?:-\s+)?([^\s#:][^:#]*?)\s*:(\s|$)", raw)
        if not m or raw.lstrip().startswith("#"):
            continue
        indent = len(m.group(1))
        while path and path[-1][0] >= indent:
            path.pop()
        path.append((indent, m.group(2).strip("'\"")))
        if number == line:
            return ".".join(p for _, p in path)
    return ""


def check_config_files(paths) -> None:
    """Every config file in use (Snakemake's workflow.configfiles: the Snakefile's `configfile:`
    and each --configfile) read again with a YAML loader that refuses a key given twice in one
    mapping: Snakemake's loader keeps the last silently."""
    import yaml

    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue  # Snakemake has reported a missing file already
        try:
            yaml.load(text, Loader=_unique_key_loader())
        except _DuplicateKey as dup:
            where = _key_path(text, dup.line)
            raise ConfigError(
                f"{path}, line {dup.line}: the key {dup.key!r}"
                + (f" ({where})" if where and where != str(dup.key) else "")
                + f" is given twice in one mapping (first on line {dup.first}); YAML would "
                f"silently keep the last: delete one of them.") from None
        except yaml.YAMLError:
            continue  # not YAML Snakemake could read either: its own error stands


def _schema_at(schema: dict, root: dict, path: list) -> list[dict]:
    """The schemas (every oneOf/anyOf branch, $ref followed) that apply at `path` in `schema`."""
    def expand(s):
        if "$ref" in s:
            s = {**_ref(root, s["$ref"]), **{k: v for k, v in s.items() if k != "$ref"}}
        branches = s.get("oneOf") or s.get("anyOf")
        if branches:
            return [b for branch in branches for b in expand(branch)]
        return [s]

    current = expand(schema)
    for key in path:
        nxt = []
        for s in current:
            if isinstance(key, int):
                if isinstance(s.get("items"), dict):
                    nxt += expand(s["items"])
            elif key in (s.get("properties") or {}):
                nxt += expand(s["properties"][key])
            elif isinstance(s.get("additionalProperties"), dict):
                nxt += expand(s["additionalProperties"])
        current = nxt
    return current


def _ref(root: dict, ref: str) -> dict:
    node = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


_JSON_TYPES = {"integer": "int", "number": "float", "boolean": "bool", "null": "none", "string": "str",
               "array": "list", "object": "dict"}


def _wanted(schemas: list[dict]) -> set[str]:
    kinds = set()
    for s in schemas:
        types = s.get("type")
        if types is None and ("enum" in s or "const" in s):
            kinds |= {_kind(v) for v in s.get("enum", [s.get("const")])}
        elif types is None:
            kinds.add("any")
        else:
            kinds |= {_JSON_TYPES.get(t, t) for t in ([types] if isinstance(types, str) else types)}
    return kinds


def coerce_overrides(config: dict, overrides: dict, schema_path: str) -> None:
    """Give --config values their types. `overrides` is what came from --config alone
    (Snakemake's config_settings.config), never a config file's values: a quoted "15" in an
    extra --configfile is refused as it is in config.yaml. Snakemake parses a top-level
    `--config key=value` as a number or boolean, but reads a nested one
    (`data={"subsample":{"train":600}}`) with YAML's BaseLoader, which makes every value a
    string. Each string that came from the command line, where the schema takes no string but a
    number, boolean or null, is read as YAML again
    (600 -> 600, true -> True, null -> None) and kept if that gives a type the schema takes;
    where the schema leaves the value to its owner (a model's keys, a reducer's settings) it
    becomes what the same text means in a config file. (BaseLoader keeps no quotes: a quoted
    "600" there is 600 too.)"""
    import yaml

    with open(schema_path) as f:
        schema = yaml.safe_load(f)

    def walk(given, target, path):
        if isinstance(given, dict) and isinstance(target, dict):
            for key, value in given.items():
                if key in target:
                    new = walk(value, target[key], path + [key])
                    if new is not _KEEP:
                        target[key] = new
            return _KEEP
        if isinstance(given, list) and isinstance(target, list) and len(given) == len(target):
            for i, value in enumerate(given):
                new = walk(value, target[i], path + [i])
                if new is not _KEEP:
                    target[i] = new
            return _KEEP
        if not (isinstance(given, str) and target == given):
            return _KEEP
        wanted = _wanted(_schema_at(schema, schema, path))
        if "str" in wanted:
            return _KEEP
        try:
            value = yaml.safe_load(given) if given.strip() else None
        except yaml.YAMLError:
            return _KEEP
        if not wanted or "any" in wanted:  # models, reducer settings: checked by their owners
            return value if _kind(value) in ("int", "float", "bool", "none") else _KEEP
        if "float" in wanted and isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                value = float(value)
            except ValueError:
                return _KEEP
        kind = _kind(value)
        if kind in wanted or (kind == "int" and "float" in wanted):
            return value
        return _KEEP

    walk(dict(overrides or {}), config, [])  # an immutables.Map when none were given


_KEEP = object()


# ---------------------------------------------------------------- results_dir, environment
def check_results_dir(value, workdir: str = ".") -> None:
    """results_dir must name a folder below the filesystem root that can hold the outputs."""
    import os

    where = "invalid config: results_dir"
    text = value if isinstance(value, str) else ""
    if not text.strip():
        raise ConfigError(f"{where} = {json.dumps(value)}: give a folder for every output, "
                          f"relative to the working directory (default: results).")
    if text != text.strip() or any(c in text for c in "{}\n\t"):
        raise ConfigError(f"{where} = {json.dumps(value)}: a folder name without surrounding "
                          f"spaces, braces (Snakemake wildcards) or control characters.")
    full = os.path.abspath(os.path.join(workdir, text))
    if os.path.dirname(full) == full:
        raise ConfigError(f"{where} = {json.dumps(value)} is the filesystem root: every output "
                          f"would be written to /<dataset>/...; give a folder of its own, e.g. "
                          f"results or /data/layermaps-results.")
    if os.path.exists(full) and not os.path.isdir(full):
        raise ConfigError(f"{where} = {json.dumps(value)}: {full} is a file, not a folder; "
                          f"give another results_dir or move the file.")


def tracking_paths(results: str, tracking: dict) -> tuple[str, str]:
    """(SQLite file, artifact folder) of the local store: each relative to results_dir unless
    it is absolute."""
    import os

    for key in ("store", "artifact_root"):
        if "://" in tracking[key]:
            raise ConfigError(f"invalid config: tracking.{key} = {json.dumps(tracking[key])}: a "
                              f"path (relative to results_dir, or absolute), not a URI; for a "
                              f"tracking server set MLFLOW_TRACKING_URI instead.")
        if not tracking[key].strip():
            raise ConfigError(f"invalid config: tracking.{key} is empty: give a path relative "
                              f"to results_dir or an absolute one.")
    return tuple(os.path.abspath(os.path.join(results, tracking[k])) for k in ("store", "artifact_root"))


def check_data_mirror(environ) -> None:
    """$LAYERMAPS_DATA_MIRROR, when set, is a file:// folder that exists or an http(s):// URL."""
    import os
    from urllib.parse import unquote, urlparse

    value = environ.get("LAYERMAPS_DATA_MIRROR")
    if not value:
        return
    url = urlparse(value)
    if url.scheme not in ("file", "http", "https") or (url.scheme != "file" and not url.netloc):
        raise ConfigError(f"LAYERMAPS_DATA_MIRROR={value}: not a file:// or http(s):// URL of a "
                          f"mirror (a base holding mnist/train-images-idx3-ubyte.gz ...); fix it or "
                          f"unset it to use the mirrors of config data.mirrors.")
    if url.scheme == "file" and not os.path.isdir(unquote(url.path)):
        raise ConfigError(f"LAYERMAPS_DATA_MIRROR={value}: the folder {unquote(url.path)} does not "
                          f"exist (a file:// URL needs three slashes before an absolute path: "
                          f"file:///data/mirror); fix it or unset it.")


# ---------------------------------------------------------------- datasets and subsamples
BUILTIN_ROWS = {"mnist": (60000, 10000), "fashion-mnist": (60000, 10000)}  # (train, test) rows
BUILTIN_CLASSES = 10
NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def declared(name: str, spec: dict):
    """What dataset `name`'s own files declare (layermaps.data.datasets.declared_arrays), their
    problems as one line naming the setting; None for a dataset without files of its own."""
    from pathlib import Path

    from layermaps.data.datasets import declared_arrays
    from layermaps.data.sources import DatasetError

    if spec["kind"] not in ("npz", "idx"):
        return declared_arrays(spec)
    path = Path(spec["path"])
    where = f"invalid config: datasets.{name}.path = {spec['path']}"
    if spec["kind"] == "npz" and not path.is_file():
        raise ConfigError(f"{where}: no such file (relative to the working directory "
                          f"{path.cwd()}); give the .npz file's path.")
    if spec["kind"] == "idx":
        if not path.is_dir():
            raise ConfigError(f"{where}: no such folder (relative to the working directory "
                              f"{Path.cwd()}); give the folder holding its four IDX files.")
        if not any(path.glob("*idx*-ubyte*")):
            raise ConfigError(f"{where}: the folder holds no IDX files "
                              f"(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
                              f"t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]).")
    try:
        return declared_arrays(spec)
    except DatasetError as err:
        text = str(err).removeprefix(f"{path}: ")
        if spec["kind"] == "idx" and "missing" not in text:  # a header that is not IDX
            text += "; each file must be in the IDX format of MNIST (gzip-compressed or not)."
        raise ConfigError(f"{where}: {text}") from None


def dataset_rows(name: str, spec: dict, specs: dict) -> tuple[int | None, int | None, int | None]:
    """(train rows, test rows, classes) of a dataset before subsampling, from its files' headers
    (and its labels where they are small); None where not known before its job runs."""
    kind = spec["kind"]
    if kind in BUILTIN_ROWS:
        return (*BUILTIN_ROWS[kind], BUILTIN_CLASSES)
    if kind == "two_cosines":
        return 2 * spec["n_per_class"], 2 * spec["n_per_class"], 2
    if kind not in ("npz", "idx"):
        return None, None, None  # reduced: its parent's rows
    found = declared(name, spec)
    missing = [a for a in NPZ_ARRAYS if a not in found.arrays]
    where = f"invalid config: datasets.{name}.path = {spec['path']}"
    if missing:
        raise ConfigError(f"{where}: it has no array(s) {', '.join(missing)} (it has: "
                          f"{', '.join(sorted(found.arrays)) or 'none'}); a dataset .npz holds "
                          f"{', '.join(NPZ_ARRAYS)}.")
    shape = {a: found.arrays[a][0] for a in NPZ_ARRAYS}
    # an array by its name in a .npz, by its file in an IDX folder
    called = {a: a if kind == "npz" else found.files[a].name for a in NPZ_ARRAYS}
    for split in ("train", "test"):
        x, y = shape[f"x_{split}"], shape[f"y_{split}"]
        if not x or not y or x[0] != y[0]:
            raise ConfigError(f"{where}: {called[f'x_{split}']} has shape {x} but "
                              f"{called[f'y_{split}']} {y}: they need one label per row.")
    ytr, yte = found.small.get("y_train"), found.small.get("y_test")
    classes = None
    if ytr is not None and yte is not None and ytr.size and yte.size and ytr.dtype.kind in "iu":
        classes = int(max(ytr.max(), yte.max())) + 1
    return int(shape["x_train"][0]), int(shape["x_test"][0]), classes


def check_declared_size(name: str, spec: dict, limit_gb: float) -> None:
    """A dataset's own arrays, as their headers declare them, within data.max_dataset_gb: a small
    file can declare gigabytes (a compressed .npz of zeros), and prepare reads all of it."""
    from layermaps.data.datasets import gigabytes, prepare_peak_mb

    found = declared(name, spec)
    if found is None or found.nbytes <= limit_gb * 1e9:
        return
    raise ConfigError(
        f"invalid config: datasets.{name}.path = {spec['path']}: its arrays declare "
        f"{gigabytes(found.nbytes)} (largest: {found.largest()}), more than data.max_dataset_gb = "
        f"{limit_gb:g}; prepare would need about {prepare_peak_mb(spec, found) / 1e3:.0f} GB of "
        f"memory. Give a smaller file, or raise data.max_dataset_gb if the machine that runs "
        f"prepare has that memory.")


def min_train_rows(classes: int, validation_fraction: float) -> int:
    """The fewest training rows `prepare` can split: its stratified subsample needs a row per
    class, and its stratified validation split (scikit-learn's train_test_split, which holds
    out ceil(fraction x n) rows) needs at least one row per class on each side."""
    import math

    n = classes
    while True:
        held = math.ceil(validation_fraction * n)
        if held >= classes and n - held >= classes:
            return n
        n += 1


def reserved_names(config: dict) -> dict[str, str]:
    """name -> what it is, of every top-level entry of results_dir that is the workflow's own: a
    dataset's folder of that name would collide with it. Spelled in layermaps.paths (the one
    place), and the local store's files (tracking.store, tracking.artifact_root)."""
    import os

    from layermaps.paths import Paths

    p = Paths("R")
    own = {p.knn_summary(): "the kNN table of every dataset", p.summary(): "every study's summary",
           p.knn_summary(suffix=".run_id"): "the run of the kNN table",
           p.summary(".run_id"): "the run of the summary",
           p.figures(): "the figures across datasets",
           p.study_file("s", "f"): "the studies' figures and summaries",
           p.log("x"): "the jobs' logs", p.state(): "the records of its runs"}
    names = {path.removeprefix("R/").split("/")[0]: what for path, what in own.items()}
    for key, what in (("store", "the local MLflow store"), ("artifact_root", "its artifacts")):
        path = os.path.normpath(config["tracking"][key])
        if not os.path.isabs(path) and not path.startswith(".."):
            top = path.split(os.sep)[0]
            names[top] = f"{what} (tracking.{key})"
            if key == "store" and top == path:  # SQLite's files beside it
                names.update({f"{top}{end}": f"a file of {what}"
                              for end in ("-journal", "-wal", "-shm")})
    return names


def check_datasets(config: dict, specs: dict) -> None:
    """No dataset is named like one of the workflow's own files; each dataset's file or folder
    exists (a .npz: with its arrays) and declares no more than data.max_dataset_gb; the
    subsample sizes fit every dataset they apply to (all but reduced ones, which keep their
    parent's rows)."""
    reserved = reserved_names(config)
    for name in specs:
        if name in reserved:
            raise ConfigError(f"invalid config: datasets.{name}: the name {name!r} is reserved: "
                              f"{config['results_dir']}/{name} is {reserved[name]}; give the "
                              f"dataset another name.")
    sub = config["data"].get("subsample") or {}
    for name, spec in specs.items():
        check_declared_size(name, spec, config["data"]["max_dataset_gb"])
        n_train, n_test, classes = dataset_rows(name, spec, specs)
        if spec["kind"] == "reduced":
            continue
        vf = spec.get("validation_fraction", config["data"]["validation_fraction"])
        for split, n, in (("train", n_train), ("test", n_test)):
            size = sub.get(split)
            if size is None:
                continue
            where = f"invalid config: data.subsample.{split} = {size}"
            if n is not None and size > n:
                raise ConfigError(f"{where} is more than the {n:,} {split} rows of dataset {name}: "
                                  f"at most {n:,} (or leave it out, or null, for all of them).")
            if n is not None and classes and n - classes < size < n:
                raise ConfigError(f"{where}: a stratified sample of dataset {name}'s {n:,} {split} "
                                  f"rows leaves out at least one per class ({classes}): at most "
                                  f"{n - classes:,}, or leave it out for all {n:,}.")
            if classes is None:
                continue
            need = min_train_rows(classes, vf) if split == "train" else classes
            if size < need:
                why = (f"its stratified validation split (validation_fraction {vf:.4g}) needs at "
                       f"least one row per class ({classes}) among both the held-out and the fit rows"
                       if split == "train" else f"a stratified sample needs a row per class ({classes})")
                raise ConfigError(f"{where} is too few for dataset {name}: {why}: at least {need}.")


# ---------------------------------------------------------------- embedded layers
def check_layers(config: dict, studies: dict, models: dict, trained: dict) -> None:
    """Layers named in a study's embed.layers must exist in every model whose layers it embeds
    (else that model would silently get no maps)."""
    from layermaps.models.spec import layer_names

    given = config.get("studies") or {}
    for name, study in studies.items():
        if isinstance(study.layers, str):
            continue
        setting = (f"studies.{name}.embed.layers" if "layers" in ((given.get(name) or {}).get("embed") or {})
                   else "embed.layers")
        trained_here = {m for d in study.datasets for m in trained.get(d, [])}
        for m in study.models:
            if m not in trained_here or (study.embed_models != "all" and m not in study.embed_models):
                continue
            have = layer_names(models[m])
            missing = [l for l in study.layers if l not in have]
            if missing:
                hint = (f"studies.{name}.embed.models" if given else "embed.models")
                raise ConfigError(
                    f"invalid config: {setting} names {', '.join(missing)}, which model {m} does not "
                    f"have (its layers: {', '.join(have)}): name layers every embedded model has, use "
                    f"last, all or every, or leave {m} out of {hint}.")
