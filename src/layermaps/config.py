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

    error = best_match([error] + list(error.context or [])) if error.context else error
    if error.validator == "additionalProperties":
        known = sorted((error.schema.get("properties") or {}).keys())
        extra = sorted(set(error.instance) - set(known))
        return (f"invalid {config_name}: unknown key(s) {', '.join(map(repr, extra))} in "
                f"{_path(error)} (Additional properties are not allowed). "
                f"Allowed keys: {', '.join(known)}.")
    value = json.dumps(error.instance, default=str)
    if len(value) > 120:
        value = value[:117] + "..."
    schema = error.schema
    allowed = ""
    if "enum" in schema:
        allowed = f" Allowed: {', '.join(map(str, schema['enum']))}."
    elif "description" in schema:
        allowed = f" Expected: {schema['description']}."
    hint = ""
    if isinstance(error.instance, str):
        try:
            float(error.instance)
            hint = (" (YAML reads a number like 1e-3 as a string: write 1.0e-3.)")
        except ValueError:
            pass
    return (f"invalid {config_name}: {_path(error)} = {value}: {error.message}.{allowed}{hint}")


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
            cls(seed=0, **lib_settings)  # cheap: checks the setting names only
        except (TypeError, ValueError) as err:
            raise ConfigError(f"invalid config: reducers.{name}: {err}") from None
    wanted = config["embed"]["models"]
    if wanted != "all":
        missing = [m for m in wanted if m not in models]
        if missing:
            raise ConfigError(f"invalid config: embed.models names unknown model(s) "
                              f"{', '.join(missing)}. Models in this config: {', '.join(models) or 'none'}.")
