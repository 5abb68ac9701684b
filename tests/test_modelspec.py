"""modelspec: defaults, validation messages, sweep expansion. No TensorFlow here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from layermaps.models.spec import (
    DEFAULTS,
    ModelSpecError,
    all_models,
    expand_sweep,
    hidden_layer_names,
    layer_names,
    normalize_model,
)

SEED_MLP = {"hidden": [256, 64], "dropout": 0.5}
MSDS = {
    "base": {
        "hidden": [128, 128],
        "dropout": 0,
        "optimizer": {"name": "rmsprop"},
        "epochs": 200,
        "validation": {"fraction": 0.0833},
        "early_stopping": {"monitor": "val_accuracy", "patience": 2},
    },
    "vary": {"hidden[1]": [1, 2, 5, 128, 256, 512]},
    "name": "msds_w{value}",
}


def test_defaults_filled_deeply():
    s = normalize_model("seed", SEED_MLP)
    assert s["hidden"] == [256, 64]
    assert s["dropout"] == [0.5, 0.5]  # scalar expanded per layer
    assert s["optimizer"] == {"name": "adam", "learning_rate": 0.001, "schedule": None}
    for k in (
        "activation",
        "batch_norm",
        "l2",
        "initializer",
        "loss",
        "epochs",
        "batch_size",
        "early_stopping",
        "validation",
        "seed",
    ):
        assert s[k] == DEFAULTS[k], k
    assert json.loads(json.dumps(s)) == s  # plain JSON, goes into params / MLflow
    assert normalize_model("seed", s) == s  # idempotent
    assert list(normalize_model("seed", dict(reversed(list(SEED_MLP.items()))))) == list(s)


def test_optimizer_and_nested_defaults():
    s = normalize_model(
        "m", {"hidden": [4], "optimizer": {"name": "sgd"}, "early_stopping": {"monitor": "val_accuracy"}}
    )
    assert s["optimizer"]["learning_rate"] == 0.01  # Keras's SGD default, not Adam's
    assert s["early_stopping"] == {
        "monitor": "val_accuracy",
        "patience": 0,
        "min_delta": 0.0,
        "restore_best_weights": False,
    }
    s = normalize_model(
        "m",
        {
            "hidden": [4],
            "optimizer": {
                "learning_rate": 0.01,
                "schedule": {"name": "exponential_decay", "decay_steps": 100, "decay_rate": 0.96},
            },
        },
    )
    assert s["optimizer"]["schedule"] == {
        "name": "exponential_decay",
        "decay_steps": 100,
        "decay_rate": 0.96,
        "staircase": False,
    }
    assert normalize_model("m", {"hidden": [4, 4], "dropout": [0.3, 0]})["dropout"] == [0.3, 0.0]
    # no hidden layer: logistic regression (docs/experiments.md D), its only layer the output
    logreg = normalize_model("m", {"hidden": [], "dropout": 0.5})
    assert logreg["hidden"] == [] and logreg["dropout"] == []
    assert hidden_layer_names(logreg) == [] and layer_names(logreg) == ["output"]


@pytest.mark.parametrize(
    "spec, fragments",
    [
        ({"hidden": [256, 0]}, ["model 'x'", "hidden[1] = 0", "integers >= 1"]),
        ({"hidden": [8, 2.5]}, ["hidden[1] = 2.5"]),
        ({"hidden": "128"}, ["hidden", "must be a list of widths ([] for no hidden layer)"]),
        ({"dropout": 0.5}, ["hidden", "missing"]),
        ({"hidden": [8], "dropout": 1.0}, ["dropout = 1.0", "[0, 1)"]),
        ({"hidden": [8], "dropout": -0.1}, ["dropout = -0.1"]),
        ({"hidden": [8, 8], "dropout": [0.2, 1.5]}, ["dropout[1] = 1.5"]),
        ({"hidden": [8, 8], "dropout": [0.2]}, ["dropout", "1 rates for 2 hidden layers"]),
        (
            {"hidden": [8], "optimizer": {"name": "adagrad"}},
            ["optimizer.name = 'adagrad'", "adam, rmsprop, sgd, adamw, nadam"],
        ),
        ({"hidden": [8], "activation": "relu6"}, ["activation = 'relu6'", "relu, tanh"]),
        ({"hidden": [8], "loss": "mse"}, ["loss = 'mse'", "sparse_categorical_crossentropy"]),
        (
            {"hidden": [8], "optimizer": {"learning_rate": "1e-3"}},
            ["optimizer.learning_rate = '1e-3'", "write 1.0e-3"],
        ),
        ({"hidden": [8], "optimizer": {"learning_rate": 0}}, ["optimizer.learning_rate = 0"]),
        ({"hidden": [8], "hiden": [8]}, ["hiden: unknown key", "hidden, activation"]),
        ({"hidden": [8], "optimizer": {"lr": 0.1}}, ["optimizer.lr: unknown key"]),
        (
            {
                "hidden": [8],
                "optimizer": {"schedule": {"name": "cosine", "decay_steps": 1, "decay_rate": 0.9}},
            },
            ["optimizer.schedule.name = 'cosine'"],
        ),
        ({"hidden": [8], "early_stopping": {"monitor": "val_acc"}}, ["early_stopping.monitor = 'val_acc'"]),
        ({"hidden": [8], "validation": {"fraction": 1.0}}, ["validation.fraction = 1.0"]),
        ({"hidden": [8], "validation": {"split": "random"}}, ["validation.split = 'random'"]),
        (
            {"hidden": [8], "validation": {"fraction": 0.1, "seed": 1}},
            ["validation", "{shuffled: f, seed: s}"],
        ),
        ({"hidden": [8], "validation": {"shuffled": 0.1, "fraction": 0.1}}, ["exactly one of"]),
        ({"hidden": [8], "validation": {"shuffled": 1.5}}, ["validation.shuffled = 1.5"]),
        ({"hidden": [8], "epochs": True}, ["epochs = True", "integer"]),
        ({"hidden": [8], "initializer": "he"}, ["initializer = 'he'", "fan_in_uniform"]),
    ],
)
def test_bad_specs_refused_with_key_path(spec, fragments):
    with pytest.raises(ModelSpecError) as e:
        normalize_model("x", spec)
    for f in fragments:
        assert f in str(e.value)
    assert isinstance(e.value, ValueError)


def test_layer_names():
    s = normalize_model("m", {"hidden": [5, 6, 7]})
    assert hidden_layer_names(s) == ["hidden1", "hidden2", "hidden3"]
    assert layer_names(s) == ["hidden1", "hidden2", "hidden3", "output"]


def test_msds_sweep_widths_and_names():
    models = expand_sweep("msds", MSDS)
    assert list(models) == [f"msds_w{w}" for w in (1, 2, 5, 128, 256, 512)]
    assert [m["hidden"] for m in models.values()] == [[128, w] for w in (1, 2, 5, 128, 256, 512)]
    for m in models.values():  # everything else is the base, normalized
        assert m["optimizer"] == {"name": "rmsprop", "learning_rate": 0.001, "schedule": None}
        assert m["validation"] == {"fraction": 0.0833}
        assert m["early_stopping"]["patience"] == 2
        assert m["dropout"] == [0.0, 0.0]


def test_sweep_paths_and_default_name():
    lr = expand_sweep("lr", {"base": {"hidden": [8]}, "vary": {"optimizer.learning_rate": [0.01, 0.001]}})
    assert {k: v["optimizer"]["learning_rate"] for k, v in lr.items()} == {"lr_0.01": 0.01, "lr_0.001": 0.001}
    # varying the depth keeps a scalar dropout valid for every depth
    depth = expand_sweep(
        "d",
        {
            "base": {"hidden": [8, 8], "dropout": 0.2},
            "vary": {"hidden": [[8], [8, 8, 8]]},
            "name": "d{index}",
        },
    )
    assert [m["dropout"] for m in depth.values()] == [[0.2], [0.2, 0.2, 0.2]]
    # a per-layer index into a value that defaults expand
    d0 = expand_sweep("p", {"base": {"hidden": [8, 8], "dropout": 0.2}, "vary": {"dropout[0]": [0.5]}})
    assert d0["p_0.5"]["dropout"] == [0.5, 0.2]
    # varying the optimizer gives each optimizer its own default learning rate
    opt = expand_sweep("o", {"base": {"hidden": [8]}, "vary": {"optimizer.name": ["adam", "sgd"]}})
    assert [m["optimizer"]["learning_rate"] for m in opt.values()] == [0.001, 0.01]


@pytest.mark.parametrize(
    "path", ["hidden[5]", "optimiser.lr", "optimizer.lr", "early_stopping.patience", "hidden[", "dropout[2]"]
)
def test_sweep_varying_a_missing_key(path):
    with pytest.raises(ModelSpecError, match=re.escape(f"sweep 'msds': vary: key {path!r}")):
        expand_sweep("msds", {"base": {"hidden": [128, 128]}, "vary": {path: [1, 2]}})


def test_sweep_errors():
    with pytest.raises(ModelSpecError, match="same model name 'd0.2'"):
        expand_sweep(
            "s", {"base": {"hidden": [4]}, "vary": {"dropout": [0.21, 0.24]}, "name": "d{value:.1f}"}
        )
    with pytest.raises(ModelSpecError, match="exactly one key path"):
        expand_sweep("s", {"base": {"hidden": [4]}, "vary": {"hidden[0]": [1], "seed": [1]}})
    with pytest.raises(ModelSpecError, match=r"model 's_0': hidden\[0\] = 0"):
        expand_sweep("s", {"base": {"hidden": [4]}, "vary": {"hidden[0]": [0]}})
    with pytest.raises(ModelSpecError, match="characters other than"):
        expand_sweep("s", {"base": {"hidden": [4]}, "vary": {"hidden": [[4, 4]]}})
    with pytest.raises(ModelSpecError, match="sweep 's': bases: unknown key"):
        expand_sweep("s", {"bases": {"hidden": [4]}, "vary": {"hidden[0]": [1]}})


def test_all_models_and_name_clash():
    models = all_models({"seed": SEED_MLP}, {"msds": MSDS})
    assert list(models) == ["seed"] + [f"msds_w{w}" for w in (1, 2, 5, 128, 256, 512)]
    assert all_models(None, None) == {}
    with pytest.raises(ModelSpecError, match="'msds_w5' is already used"):
        all_models({"msds_w5": SEED_MLP}, {"msds": MSDS})
    with pytest.raises(ModelSpecError, match="model 'a/b'"):
        all_models({"a/b": SEED_MLP}, None)


def test_import_stays_light():
    # Snakemake imports modelspec to build the DAG: no TensorFlow/Keras (seconds) allowed.
    code = (
        "import sys, layermaps.models.spec; sys.exit(sorted({'tensorflow', 'keras'} & set(sys.modules)) or 0)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_shuffled_validation_normalizes_with_its_seed():
    s = normalize_model("m", {"hidden": [8], "validation": {"shuffled": 0.1, "seed": 42}})
    assert s["validation"] == {"shuffled": 0.1, "seed": 42}
    assert normalize_model("m", s) == s
    assert normalize_model("m", {"hidden": [8], "validation": {"shuffled": 0.1}})["validation"]["seed"] == 0
