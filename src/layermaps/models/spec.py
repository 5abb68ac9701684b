"""Model specs: the MLPs are declared in config.yaml; this module fills defaults and validates.

It is the one owner of what a model may say: allowed keys, values (activations, optimizers,
losses, initializers, early-stopping monitors), defaults and the model-name pattern. The JSON
schema leaves `models:` and `sweeps:` to it; `training` builds Keras objects from the names.

Deliberately free of TensorFlow/Keras imports: Snakemake imports it while building the DAG
(`snakemake -n` must stay around a second). `training.build_model` turns a normalized spec
into a Keras model. A normalized spec is plain JSON (dicts, lists, str, int, float, bool,
None) in a fixed key order, so it can go straight into Snakemake `params:` and MLflow.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

__all__ = [
    "ACTIVATIONS",
    "DEFAULTS",
    "INITIALIZERS",
    "LOSSES",
    "OPTIMIZERS",
    "ModelSpecError",
    "all_models",
    "expand_sweep",
    "hidden_layer_names",
    "layer_names",
    "normalize_model",
    "repeat_groups",
    "snapshot_epochs",
    "sweep_repeats",
]


class ModelSpecError(ValueError):
    """A model or sweep in the config is malformed; the message names the model and key."""


ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "linear")
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")
# name -> Keras 3's default learning rate for that optimizer (SGD's is 0.01, not 0.001).
OPTIMIZERS = {"adam": 0.001, "rmsprop": 0.001, "sgd": 0.01, "adamw": 0.001, "nadam": 0.001}
SCHEDULES = ("exponential_decay",)
# Keras built-in initializer names, plus "fan_in_uniform" = U(+-1/sqrt(fan_in)) (docs/experiments.md C).
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
    "random_uniform",
    "random_normal",
    "truncated_normal",
    "zeros",
    "ones",
    "fan_in_uniform",
)
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")

DEFAULTS: dict[str, Any] = {
    "activation": "relu",
    "dropout": 0.0,
    "batch_norm": False,
    "l2": 0.0,
    "initializer": "glorot_uniform",
    # learning_rate None = the optimizer's Keras default, resolved by normalize_model.
    "optimizer": {"name": "adam", "learning_rate": None, "schedule": None},
    "loss": "categorical_crossentropy",
    "epochs": 20,
    "batch_size": 128,
    "early_stopping": None,
    "validation": {"split": "prepared"},
    "seed": 1,
}
KEYS = ("hidden", *DEFAULTS)  # also the key order of a normalized spec
# Epochs whose weights training keeps (layers over training): numbers, or these names. Not in
# DEFAULTS: a model without snapshots keeps exactly the spec (and the jobs) it had before.
SNAPSHOT_NAMES = ("first", "middle", "last")
SCHEDULE_KEYS = ("name", "decay_steps", "decay_rate", "staircase")
EARLY_STOPPING_DEFAULTS = {
    "monitor": "val_loss",
    "patience": 0,
    "min_delta": 0.0,
    "restore_best_weights": False,
}  # Keras's own defaults
SWEEP_KEYS = ("base", "vary", "name", "repeats")
# Model and sweep names become paths and (escaped) wildcards; sweep values make names such as
# lr1.0e-3 or w1.0e+20, hence the dot, plus and minus.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


# ----------------------------------------------------------------------------- checks
class _Checker:
    """Validators that raise ModelSpecError naming the key: its place in the config
    (`where`, e.g. models.seed_mlp) or else the model name, then the key path."""

    def __init__(self, model: str, where: str | None = None):
        self.model, self.where = model, where

    def fail(self, path: str, msg: str, value: Any = ...):
        shown = "" if value is ... else f" = {value!r}"
        if self.where:
            key = self.where if path in ("", "spec") else f"{self.where}.{path}"
            raise ModelSpecError(f"{key}{shown}: {msg}")
        raise ModelSpecError(f"model {self.model!r}: {path}{shown}: {msg}")

    def number(self, path, v, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
        if isinstance(v, str):
            try:
                float(v)
            except ValueError:
                pass
            else:  # YAML 1.1 reads 1e-3 (no dot) as a string
                self.fail(
                    path,
                    f"a string, not a number (YAML needs a dot in exponent "
                    f"notation): write {_yaml_float_hint(v)}",
                    v,
                )
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(path, "must be a finite number", v)
        if (lo is not None and (v < lo or (lo_open and v == lo))) or (
            hi is not None and (v > hi or (hi_open and v == hi))
        ):
            rng = (
                f"{'(' if lo_open else '['}{lo if lo is not None else '-inf'}, "
                f"{hi if hi is not None else 'inf'}{')' if hi_open or hi is None else ']'}"
            )
            self.fail(path, f"must be in {rng}", v)
        return float(v)

    def integer(self, path, v, lo=None) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(path, "must be an integer", v)
        if lo is not None and v < lo:
            self.fail(path, f"must be >= {lo}", v)
        return int(v)

    def boolean(self, path, v) -> bool:
        if not isinstance(v, bool):
            self.fail(path, "must be true or false", v)
        return v

    def choice(self, path, v, allowed) -> str:
        if v not in allowed:
            self.fail(path, f"not one of: {', '.join(allowed)}", v)
        return v

    def mapping(self, path, v, allowed) -> dict:
        if not isinstance(v, dict):
            self.fail(path or "spec", "expected a mapping", v)
        unknown = [k for k in v if k not in allowed]
        if unknown:
            self.fail(
                f"{path}.{unknown[0]}" if path else str(unknown[0]),
                f"unknown key (allowed: {', '.join(allowed)})",
            )
        return v


def _yaml_float_hint(s: str) -> str:
    m = re.fullmatch(r"\s*([+-]?\d+)([eE][+-]?\d+)\s*", s)
    return f"{m.group(1)}.0{m.group(2)}" if m else "a number such as 1.0e-3"


def _fill(spec: dict) -> dict:
    """Deep-merge DEFAULTS under `spec` without validating (a copy; spec is untouched)."""
    out = copy.deepcopy(DEFAULTS)
    for k, v in spec.items():
        if k == "optimizer" and isinstance(v, dict):
            out[k].update(copy.deepcopy(v))
        elif k == "early_stopping" and isinstance(v, dict):
            out[k] = {**EARLY_STOPPING_DEFAULTS, **copy.deepcopy(v)}
        else:
            out[k] = copy.deepcopy(v)
    return out


# ----------------------------------------------------------------------------- models
def normalize_model(name: str, spec: dict, where: str | None = None) -> dict:
    """Fill defaults, expand per-layer values, validate; return a plain-JSON spec.

    `where` (e.g. "models.seed_mlp") names the spec's place in the config in error messages.
    Idempotent: normalizing a normalized spec returns an equal dict.
    """
    c = _Checker(name, where)
    if not isinstance(spec, dict):
        c.fail("spec", "expected a mapping with at least 'hidden'", spec)
    c.mapping("", spec, (*KEYS, "snapshots"))
    if "hidden" not in spec:
        c.fail("hidden", "missing: list the hidden-layer widths, e.g. hidden: [256, 64]")
    s = _fill(spec)

    hidden = s["hidden"]
    if not isinstance(hidden, list):  # [] is a model with no hidden layer (logistic regression)
        c.fail("hidden", "must be a list of widths ([] for no hidden layer)", hidden)
    for i, w in enumerate(hidden):
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            c.fail(f"hidden[{i}]", "widths must be integers >= 1", w)
    n = len(hidden)

    dropout = s["dropout"]
    if isinstance(dropout, list):
        if len(dropout) != n:
            c.fail("dropout", f"{len(dropout)} rates for {n} hidden layers", dropout)
        rates = [c.number(f"dropout[{i}]", r, 0, 1, hi_open=True) for i, r in enumerate(dropout)]
    else:
        rates = [c.number("dropout", dropout, 0, 1, hi_open=True)] * n

    opt = c.mapping("optimizer", s["optimizer"], ("name", "learning_rate", "schedule"))
    opt_name = c.choice("optimizer.name", opt["name"], tuple(OPTIMIZERS))
    lr = opt["learning_rate"]
    lr = OPTIMIZERS[opt_name] if lr is None else c.number("optimizer.learning_rate", lr, 0, lo_open=True)
    sched = opt["schedule"]
    if sched is not None:
        c.mapping("optimizer.schedule", sched, SCHEDULE_KEYS)
        for k in ("name", "decay_steps", "decay_rate"):
            if k not in sched:
                c.fail(f"optimizer.schedule.{k}", "missing")
        sched = {
            "name": c.choice("optimizer.schedule.name", sched["name"], SCHEDULES),
            "decay_steps": c.integer("optimizer.schedule.decay_steps", sched["decay_steps"], 1),
            "decay_rate": c.number("optimizer.schedule.decay_rate", sched["decay_rate"], 0, lo_open=True),
            "staircase": c.boolean("optimizer.schedule.staircase", sched.get("staircase", False)),
        }

    es = s["early_stopping"]
    if es is not None:
        c.mapping("early_stopping", es, tuple(EARLY_STOPPING_DEFAULTS))
        es = {
            "monitor": c.choice("early_stopping.monitor", es["monitor"], MONITORS),
            "patience": c.integer("early_stopping.patience", es["patience"], 0),
            "min_delta": c.number("early_stopping.min_delta", es["min_delta"], 0),
            "restore_best_weights": c.boolean(
                "early_stopping.restore_best_weights", es["restore_best_weights"]
            ),
        }

    val = c.mapping("validation", s["validation"], ("split", "fraction", "shuffled", "seed"))
    modes = [k for k in ("split", "fraction", "shuffled") if k in val]
    if len(modes) != 1 or ("seed" in val and modes != ["shuffled"]):
        c.fail(
            "validation",
            "give exactly one of {split: prepared}, {fraction: f} or {shuffled: f, seed: s}",
            val,
        )
    if "split" in val:
        val = {"split": c.choice("validation.split", val["split"], ("prepared",))}
    elif "fraction" in val:
        val = {"fraction": c.number("validation.fraction", val["fraction"], 0, 1, lo_open=True, hi_open=True)}
    else:  # docs/experiments.md C: train_test_split(test_size=f, random_state=s) of the training part
        val = {
            "shuffled": c.number("validation.shuffled", val["shuffled"], 0, 1, lo_open=True, hi_open=True),
            "seed": c.integer("validation.seed", val.get("seed", 0), 0),
        }

    epochs = c.integer("epochs", s["epochs"], 1)
    snapshots = _snapshots(c, spec.get("snapshots"), epochs, es)
    return {
        "hidden": [int(w) for w in hidden],
        "activation": c.choice("activation", s["activation"], ACTIVATIONS),
        "dropout": rates,
        "batch_norm": c.boolean("batch_norm", s["batch_norm"]),
        "l2": c.number("l2", s["l2"], 0),
        "initializer": c.choice("initializer", s["initializer"], INITIALIZERS),
        "optimizer": {"name": opt_name, "learning_rate": float(lr), "schedule": sched},
        "loss": c.choice("loss", s["loss"], LOSSES),
        "epochs": epochs,
        "batch_size": c.integer("batch_size", s["batch_size"], 1),
        "early_stopping": es,
        "validation": val,
        "seed": c.integer("seed", s["seed"], 0),
        **({"snapshots": snapshots} if snapshots else {}),
    }


def _snapshots(c: _Checker, value, epochs: int, early_stopping) -> list[int]:
    """The epochs (1-based, sorted, once each) whose weights are kept: numbers or
    first / middle / last (middle: epoch ceil(epochs / 2))."""
    if value is None or value == []:
        return []
    if not isinstance(value, list):
        c.fail("snapshots", "a list of epochs, e.g. [first, middle, last] or [1, 10, 20]", value)
    if early_stopping is not None:
        c.fail(
            "snapshots",
            "needs a fixed number of epochs: early stopping may end the training "
            "before an epoch it names (remove early_stopping or the snapshots)",
            value,
        )
    named = {"first": 1, "middle": (epochs + 1) // 2, "last": epochs}
    out = set()
    for i, v in enumerate(value):
        if isinstance(v, str):
            out.add(named[c.choice(f"snapshots[{i}]", v, SNAPSHOT_NAMES)])
        elif isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= epochs:
            c.fail(
                f"snapshots[{i}]",
                f"an epoch from 1 to {epochs} (the model's epochs) or one of {', '.join(SNAPSHOT_NAMES)}",
                v,
            )
        else:
            out.add(int(v))
    return sorted(out)


def snapshot_epochs(spec: dict) -> list[int]:
    """The epochs a normalized spec keeps snapshots of ([] for none)."""
    return list(spec.get("snapshots", []))


def hidden_layer_names(spec: dict) -> list[str]:
    """Names of the post-activation hidden layers: hidden1 .. hiddenN."""
    return [f"hidden{i}" for i in range(1, len(spec["hidden"]) + 1)]


def layer_names(spec: dict) -> list[str]:
    """Every layer whose activations are extracted: the hidden layers, then 'output'."""
    return [*hidden_layer_names(spec), "output"]


# ----------------------------------------------------------------------------- sweeps
_PATH_RE = re.compile(r"[A-Za-z_]\w*(\[\d+\])*(\.[A-Za-z_]\w*(\[\d+\])*)*")


def _parse_path(path: str) -> list[str | int] | None:
    """'optimizer.learning_rate' -> ['optimizer', 'learning_rate']; 'hidden[1]' -> ['hidden', 1]."""
    if not _PATH_RE.fullmatch(path):
        return None
    return [int(i) if i else k for k, i in re.findall(r"([A-Za-z_]\w*)|\[(\d+)\]", path)]


def _set_path(tree: Any, keys: list, value: Any) -> bool:
    """Set tree[k0][k1]... = value in place; False if any step does not already exist."""
    for i, k in enumerate(keys):
        ok = (isinstance(tree, dict) and isinstance(k, str) and k in tree) or (
            isinstance(tree, list) and isinstance(k, int) and k < len(tree)
        )
        if not ok:
            return False
        if i == len(keys) - 1:
            tree[k] = copy.deepcopy(value)
        else:
            tree = tree[k]
    return True


# ----------------------------------------------------------------------------- repeats
def repeat_seeds(where: str, repeats, seed: int) -> list[int]:
    """The seeds of a model's repeats: `repeats: n` trains seeds seed .. seed + n - 1 (its own
    seed first); a list names the seeds (the first replaces the model's seed)."""
    if isinstance(repeats, bool) or not isinstance(repeats, (int, list)):
        raise ModelSpecError(f"{where}.repeats = {repeats!r}: a number of repeats (>= 1) or a list of seeds")
    if isinstance(repeats, int):
        if repeats < 1:
            raise ModelSpecError(f"{where}.repeats = {repeats}: at least 1")
        return [seed + i for i in range(repeats)]
    if (
        not repeats
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in repeats)
        or len(set(repeats)) != len(repeats)
    ):
        raise ModelSpecError(f"{where}.repeats = {repeats!r}: a list of different seeds (integers >= 0)")
    return list(repeats)


def with_repeats(name: str, spec: dict, repeats, where: str) -> dict[str, dict]:
    """name -> spec of a model and its repeats: the first keeps the name (and its outputs), the
    others are `{name}_seed{s}`, identical but for the seed."""
    if repeats is None:
        return {name: spec}
    out = {}
    for i, seed in enumerate(repeat_seeds(where, repeats, spec["seed"])):
        out[name if i == 0 else f"{name}_seed{seed}"] = {**spec, "seed": seed}
    return out


def expand_sweep(sweep_name: str, sweep: dict) -> dict[str, dict]:
    """One normalized spec per value of the single varied key path, named by `name`, each
    followed by its repeats (`repeats:`, see with_repeats)."""

    def fail(msg):
        raise ModelSpecError(f"sweep {sweep_name!r}: {msg}")

    if not NAME_RE.fullmatch(str(sweep_name)):
        fail("sweep names may only use letters, digits, _ . + - (and start with a letter or digit)")
    if not isinstance(sweep, dict):
        fail(f"expected a mapping with base, vary and name, got {sweep!r}")
    unknown = [k for k in sweep if k not in SWEEP_KEYS]
    if unknown:
        fail(f"{unknown[0]}: unknown key (allowed: {', '.join(SWEEP_KEYS)})")
    for k in ("base", "vary"):
        if k not in sweep:
            fail(f"{k}: missing")
    vary = sweep["vary"]
    if not isinstance(vary, dict) or len(vary) != 1:
        fail(f"vary: needs exactly one key path with a list of values, got {vary!r}")
    ((path, values),) = vary.items()
    if not isinstance(values, list) or not values:
        fail(f"vary.{path}: needs a non-empty list of values, got {values!r}")
    pattern = sweep.get("name", f"{sweep_name}_{{value}}")
    if not isinstance(pattern, str) or ("{value" not in pattern and "{index" not in pattern):
        fail(f"name: {pattern!r} must be a string containing {{value}} (or {{index}})")

    base = normalize_model(
        f"{sweep_name}.base", sweep["base"], where=f"sweeps.{sweep_name}.base"
    )  # base must be valid itself
    keys = _parse_path(str(path))
    filled = _fill(sweep["base"])
    if keys is None or not (
        _set_path(copy.deepcopy(filled), keys, None) or _set_path(copy.deepcopy(base), keys, None)
    ):
        fail(f"vary: key {path!r} does not exist in the base model (after defaults)")

    out: dict[str, dict] = {}
    for i, value in enumerate(values):
        try:
            name = pattern.format(value=value, index=i)
        except (KeyError, IndexError, ValueError) as e:
            fail(f"name: cannot format {pattern!r} with value={value!r}: {e}")
        if not NAME_RE.fullmatch(name):
            fail(
                f"generated model name {name!r} has characters other than "
                f"letters, digits, _ . + - (set `name` to a pattern that avoids them)"
            )
        if name in out:
            fail(f"two values give the same model name {name!r}")
        # Prefer the un-expanded spec (so e.g. vary: {hidden: ...} keeps a scalar dropout
        # matching any depth); fall back to the normalized one for paths such as dropout[0].
        spec = copy.deepcopy(filled)
        if not _set_path(spec, keys, value):
            spec = copy.deepcopy(base)
            _set_path(spec, keys, value)
        for repeat, repeat_spec in with_repeats(
            name, normalize_model(name, spec), sweep.get("repeats"), f"sweeps.{sweep_name}"
        ).items():
            if repeat in out:
                fail(f"model name {repeat!r} twice (a value's name and another's repeat)")
            out[repeat] = repeat_spec
    return out


def sweep_repeats(sweep_name: str, sweep: dict) -> list[dict[str, dict]]:
    """expand_sweep's members grouped by value, in config order: one {name: spec} per value,
    its first repeat first (every value has the same number of repeats)."""
    members = list(expand_sweep(sweep_name, sweep).items())
    n = len(members) // len(next(iter(sweep["vary"].values())))
    return [dict(members[i : i + n]) for i in range(0, len(members), n)]


def all_models(config_models: dict | None, config_sweeps: dict | None) -> dict[str, dict]:
    """Every model of the config, normalized: the plain models, then each sweep's members."""
    return _models_and_repeats(config_models, config_sweeps)[0]


def repeat_groups(config_models: dict | None, config_sweeps: dict | None) -> dict[str, list[str]]:
    """First model -> the names of all its repeats (itself first), for every model or sweep
    member with `repeats:`; a model without repeats is not listed."""
    return _models_and_repeats(config_models, config_sweeps)[1]


def _models_and_repeats(config_models, config_sweeps):
    out: dict[str, dict] = {}
    groups: dict[str, list[str]] = {}

    def add(names: dict, clash: str):
        for name in names:
            if name in out:
                raise ModelSpecError(
                    f"{clash}: model name {name!r} is already used by another model or sweep"
                )
        out.update(names)

    for name, spec in (config_models or {}).items():
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise ModelSpecError(
                f"model {name!r}: names may only use letters, digits, _ . + - "
                f"(and start with a letter or digit)"
            )
        repeats = spec.get("repeats") if isinstance(spec, dict) else None
        if isinstance(spec, dict) and "repeats" in spec:  # how often, not how: not in the spec
            spec = {k: v for k, v in spec.items() if k != "repeats"}
        named = with_repeats(
            name, normalize_model(name, spec, where=f"models.{name}"), repeats, f"models.{name}"
        )
        add(named, f"model {name!r}")
        if repeats is not None:
            groups[name] = list(named)
    for sweep_name, sweep in (config_sweeps or {}).items():
        by_value = sweep_repeats(sweep_name, sweep)
        for members in by_value:
            add(members, f"sweep {sweep_name!r}")
            if sweep.get("repeats") is not None:
                groups[next(iter(members))] = list(members)
    return out, groups
