"""Config checks that run when Snakemake builds the DAG: cheap imports only.

The JSON schema (workflow/schemas/config.schema.yaml) catches wrong keys and types; this
module turns its errors into one line a person can act on, and checks what a schema cannot:
names that refer to other parts of the config.
"""

from __future__ import annotations

import json

from layermaps.embed.settings import kind_of


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
            return (
                f"invalid {config_name}: {_path(error)} = {value[:120]}: expected "
                f"{' or '.join(wanted)}.{_number_hint(error.instance)}"
            )
    error = best_match([error] + list(error.context or [])) if error.context else error
    if error.validator == "additionalProperties":
        known = sorted((error.schema.get("properties") or {}).keys())
        extra = sorted(set(error.instance) - set(known))
        return (
            f"invalid {config_name}: unknown key(s) {', '.join(map(repr, extra))} in "
            f"{_path(error)} (Additional properties are not allowed). "
            f"Allowed keys: {', '.join(known)}."
        )
    value = json.dumps(error.instance, default=str)
    if error.validator == "not":  # the schema's only `not`: names kept for the workflow's own use
        return (
            f"invalid {config_name}: {_path(error)}: the name {value} is reserved "
            f"({error.validator_value.get('const', '')!r} is the workflow's own); choose another."
        )
    if len(value) > 120:
        value = value[:117] + "..."
    schema = error.schema
    allowed = ""
    if "enum" in schema:
        allowed = f" Allowed: {', '.join(map(str, schema['enum']))}."
    elif "description" in schema:
        allowed = f" Expected: {schema['description']}."
    return (
        f"invalid {config_name}: {_path(error)} = {value}: {error.message}.{allowed}"
        f"{_number_hint(error.instance)}"
    )


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
    names = {
        "null": "null",
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "string": "a string",
        "array": "a list",
        "object": "a mapping",
    }
    kind = schema.get("type")
    if not isinstance(kind, str) or kind not in names:
        return None
    limits = [
        f"{op} {schema[k]}"
        for k, op in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
        )
        if k in schema
    ]
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


def check_reducers(reducers: dict) -> dict[str, tuple[type, dict]]:
    """name -> (class, library settings) of every reducer entry (a method, or a variant of one
    naming its `method:`), each entry checked by its class (Reducer.check_settings): the one
    place an entry is resolved. A mistake is one ConfigError naming the entry."""
    from layermaps.embed.reducers import SettingTypeError, reducer_class

    out = {}
    for name, settings in reducers.items():
        try:
            cls, lib_settings = reducer_class(name, settings)
            cls.check_settings(lib_settings, where=f"reducers.{name}")
        except SettingTypeError as err:  # names its key already
            raise ConfigError(f"invalid config: {err}") from None
        except (TypeError, ValueError) as err:
            raise ConfigError(f"invalid config: reducers.{name}: {err}") from None
        out[name] = (cls, lib_settings)
    return out


def check_names(config: dict, models: dict) -> None:
    """Names that refer to other parts of the config must exist."""
    wanted = config["embed"]["models"]
    if wanted != "all":
        missing = [m for m in wanted if m not in models]
        if missing:
            raise ConfigError(
                f"invalid config: embed.models names unknown model(s) "
                f"{', '.join(missing)}. Models in this config: {', '.join(models) or 'none'}."
            )


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
                f"silently keep the last: delete one of them."
            ) from None
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


_JSON_TYPES = {
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "null": "none",
    "string": "str",
    "array": "list",
    "object": "dict",
}


def _wanted(schemas: list[dict]) -> set[str]:
    kinds = set()
    for s in schemas:
        types = s.get("type")
        if types is None and ("enum" in s or "const" in s):
            kinds |= {kind_of(v) for v in s.get("enum", [s.get("const")])}
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
            return value if kind_of(value) in ("int", "float", "bool", "none") else _KEEP
        if "float" in wanted and isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                value = float(value)
            except ValueError:
                return _KEEP
        kind = kind_of(value)
        if kind in wanted or (kind == "int" and "float" in wanted):
            return value
        return _KEEP

    walk(dict(overrides or {}), config, [])  # an immutables.Map when none were given


_KEEP = object()
