"""training: real Keras models on small slices of the real MNIST (no mocks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from layermaps.models.spec import ACTIVATIONS, ModelSpecError
from layermaps.models.training import (
    TrainingDiverged,
    build_model,
    confusion_matrix,
    constant_units,
    count_params,
    evaluate,
    extract_activations,
    select_training_rows,
    train,
    validation_split_rows,
)

FAST = {"epochs": 2, "batch_size": 32}


def layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def assert_close_to_scale(a, ref, rel=1e-4):
    """|a - ref| <= rel * max|ref|, elementwise. float32 matrix products round differently with
    another batch shape, thread count, kernel or CPU (here up to ~5e-7 of the layer's largest
    value), and that error does not shrink for values near 0 (ReLU outputs just above it), so
    a tolerance relative to each value is the wrong scale. Dropout, BN in training mode or a
    misplaced batch change values by ~1e-2 to 1 of that scale."""
    a, ref = np.asarray(a), np.asarray(ref)
    np.testing.assert_allclose(a, ref, rtol=0, atol=rel * np.abs(ref).max())


def forward_by_hand(model, x):
    """The plain MLP's layers in float64 NumPy, inference mode: relu(h @ W + b), then softmax."""
    out, h = {}, np.asarray(x, np.float64)
    for name in [l.name for l in layers_of(model, keras.layers.Dense)]:
        w, b = model.get_layer(name).get_weights()
        z = h @ w + b
        if name == "output":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            out[name] = e / e.sum(axis=1, keepdims=True)
        else:
            out[name] = h = np.maximum(z, 0)
    return out


@pytest.fixture(scope="module")
def trained(mnist_small):
    """One 2-epoch training on 1,200 fit / 300 val rows, shared by several tests."""
    x, y, _, _ = mnist_small
    lines, seen = [], []

    class Record(keras.callbacks.Callback):  # stands in for the lead's MLflow callback
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, dict(logs)))

    spec = {"hidden": [64, 32], "dropout": 0.2, **FAST}
    result = train(
        spec, x[:1200], y[:1200], x[1200:1500], y[1200:1500], log=lines.append, callbacks=[Record()]
    )
    return result, lines, seen


# ----------------------------------------------------------------------------- build
def test_plain_model_structure():
    m = build_model({"hidden": [32, 16]})
    assert [l.name for l in m.layers] == ["input", "hidden1", "hidden2", "output"]
    dense = layers_of(m, keras.layers.Dense)
    assert [d.units for d in dense] == [32, 16, 10]
    assert [d.activation for d in dense] == [keras.activations.relu] * 2 + [keras.activations.softmax]
    assert not layers_of(m, keras.layers.Dropout)
    assert not layers_of(m, keras.layers.BatchNormalization)
    assert all(d.kernel_regularizer is None for d in dense) and not m.losses
    assert all(isinstance(d.kernel_initializer, keras.initializers.GlorotUniform) for d in dense)
    assert isinstance(m.optimizer, keras.optimizers.Adam)
    assert float(m.optimizer.learning_rate) == pytest.approx(0.001)
    assert m.loss == "categorical_crossentropy"
    assert count_params(m) == (784 * 32 + 32) + (32 * 16 + 16) + (16 * 10 + 10)


def test_dropout_layers_and_rates():
    m = build_model({"hidden": [32, 16, 8], "dropout": [0.3, 0.0, 0.5]})
    names = [l.name for l in m.layers]
    drops = layers_of(m, keras.layers.Dropout)
    assert [(d.name, d.rate) for d in drops] == [("hidden1_dropout", 0.3), ("hidden3_dropout", 0.5)]
    assert names.index("hidden1_dropout") == names.index("hidden1") + 1  # after the activation
    m = build_model({"hidden": [32, 16], "dropout": 0.5})
    assert [d.rate for d in layers_of(m, keras.layers.Dropout)] == [0.5, 0.5]


def test_batch_norm_between_dense_and_activation():
    m = build_model({"hidden": [32, 16], "batch_norm": True, "activation": "tanh"})
    assert [l.name for l in m.layers] == [
        "input",
        "hidden1_dense",
        "hidden1_bn",
        "hidden1",
        "hidden2_dense",
        "hidden2_bn",
        "hidden2",
        "output",
    ]
    assert len(layers_of(m, keras.layers.BatchNormalization)) == 2
    assert m.get_layer("hidden1_dense").activation is keras.activations.linear
    assert isinstance(m.get_layer("hidden1"), keras.layers.Activation)
    assert m.get_layer("hidden1").activation is keras.activations.tanh
    assert count_params(m) == (784 * 32 + 32 + 4 * 32) + (32 * 16 + 16 + 4 * 16) + 170


def test_l2_on_hidden_kernels_only():
    m = build_model({"hidden": [32, 16], "l2": 0.01})
    for name in ("hidden1", "hidden2"):
        reg = m.get_layer(name).kernel_regularizer
        assert isinstance(reg, keras.regularizers.L2) and reg.l2 == pytest.approx(0.01)
    assert m.get_layer("output").kernel_regularizer is None
    assert len(m.losses) == 2


def test_initializers():
    m = build_model({"hidden": [32], "initializer": "he_normal"})
    assert isinstance(m.get_layer("hidden1").kernel_initializer, keras.initializers.HeNormal)
    m = build_model({"hidden": [300], "initializer": "fan_in_uniform"})
    for name, fan_in in (("hidden1", 784), ("output", 300)):
        w = m.get_layer(name).kernel.numpy()
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(w).max() <= bound + 1e-7 and np.abs(w).max() > 0.99 * bound
        assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound  # uniform, not normal


@pytest.mark.parametrize(
    "name, cls, lr",
    [
        ("adam", keras.optimizers.Adam, 0.001),
        ("rmsprop", keras.optimizers.RMSprop, 0.001),
        ("sgd", keras.optimizers.SGD, 0.01),
        ("adamw", keras.optimizers.AdamW, 0.001),
        ("nadam", keras.optimizers.Nadam, 0.001),
    ],
)
def test_optimizer_defaults(name, cls, lr):
    opt = build_model({"hidden": [8], "optimizer": {"name": name}}).optimizer
    assert type(opt) is cls and float(opt.learning_rate) == pytest.approx(lr)
    opt = build_model({"hidden": [8], "optimizer": {"name": name, "learning_rate": 0.05}}).optimizer
    assert float(opt.learning_rate) == pytest.approx(0.05)


def test_learning_rate_schedule():
    sched = {"name": "exponential_decay", "decay_steps": 100, "decay_rate": 0.96, "staircase": True}
    opt = build_model({"hidden": [8], "optimizer": {"learning_rate": 0.01, "schedule": sched}}).optimizer
    s = opt._learning_rate  # Keras keeps the schedule here; .learning_rate is its current value
    assert isinstance(s, keras.optimizers.schedules.ExponentialDecay)
    assert (s.initial_learning_rate, s.decay_steps, s.decay_rate, s.staircase) == (0.01, 100, 0.96, True)
    assert float(s(250)) == pytest.approx(0.01 * 0.96**2)  # staircase


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation_function(act):
    fn = keras.activations.get(act)
    assert build_model({"hidden": [8, 8], "activation": act}).get_layer("hidden2").activation is fn
    assert (
        build_model({"hidden": [8], "activation": act, "batch_norm": True}).get_layer("hidden1").activation
        is fn
    )


def test_hidden_layers_are_post_activation(mnist_small):
    x = mnist_small[0][:64]
    m = build_model({"hidden": [16, 8], "dropout": 0.5})
    acts = extract_activations(m, x)
    assert_close_to_scale(acts["hidden1"], forward_by_hand(m, x)["hidden1"])
    assert (acts["hidden1"] >= 0).all() and (acts["hidden1"] == 0).any()

    m = build_model({"hidden": [16], "batch_norm": True})
    # predict runs two batches of 32, extract_activations one of 64: rounding may differ
    bn = keras.Model(m.inputs, m.get_layer("hidden1_bn").output).predict(x, verbose=0)
    assert_close_to_scale(extract_activations(m, x)["hidden1"], np.maximum(bn, 0))


def test_bad_spec_refused_before_training(mnist_small):
    with pytest.raises(ModelSpecError, match=r"model 'bad': hidden\[0\] = 0"):
        train({"hidden": [0]}, *mnist_small[:2], log=pytest.fail, name="bad")
    with pytest.raises(ModelSpecError, match="dropout = 1.0"):
        build_model({"hidden": [4], "dropout": 1.0})
    with pytest.raises(ModelSpecError, match="needs validation data"):
        train({"hidden": [4], "early_stopping": {"monitor": "val_loss"}}, *mnist_small[:2], log=pytest.fail)


# ----------------------------------------------------------------------------- train
def test_training_learns(trained, mnist_small):
    result, _, _ = trained
    assert result.epochs_run == 2 and result.train_seconds > 0 and not result.stopped_early
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 2 for v in result.history.values())
    assert result.history["loss"][1] < result.history["loss"][0]
    metrics = evaluate(result.model, mnist_small[2], mnist_small[3])
    assert set(metrics) == {"test_loss", "test_accuracy"}
    # Chance is 0.1. After 2 epochs on 1,200 rows the accuracy is still climbing, and another
    # CPU's rounding sends training elsewhere, like another seed: seeds 1-8 gave .77-.84
    # (median .81, sd .02), so the threshold sits far below that rather than at .75.
    assert metrics["test_accuracy"] > 0.6


def test_epoch_log_one_line_per_epoch_and_extra_callbacks(trained):
    result, lines, seen = trained
    assert len(lines) == 2
    for i, line in enumerate(lines, start=1):
        assert line.startswith(f"epoch {i}/2 ") and "\n" not in line
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert f" {key} " in line
        assert line.endswith("s")
    assert [e for e, _ in seen] == [0, 1]
    assert seen[1][1]["val_accuracy"] == pytest.approx(result.history["val_accuracy"][1])


def test_same_seed_same_model(mnist_small):
    x, y, xt, yt = mnist_small
    spec = {"hidden": [32], "dropout": 0.3, "epochs": 1, "batch_size": 32, "seed": 7}

    def run(s):
        r = train(s, x[:600], y[:600], x[600:800], y[600:800], log=lambda _: None)
        return evaluate(r.model, xt, yt)["test_accuracy"], r.model.get_weights()

    acc1, w1 = run(spec)
    acc_other, w_other = run({**spec, "seed": 8})  # state left behind must not leak
    acc2, w2 = run(spec)
    assert acc1 == acc2
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))
    assert not np.array_equal(w1[0], w_other[0])


def test_nan_loss_raises(mnist_small):
    x, y = mnist_small[0][:256], mnist_small[1][:256]
    spec = {"hidden": [16], "optimizer": {"name": "sgd", "learning_rate": 1e12}, **FAST}
    lines = []
    with pytest.raises(TrainingDiverged, match="lower learning rate") as e:
        train(spec, x, y, log=lines.append)
    assert e.value.epoch == 1 and e.value.batch >= 1 and not np.isfinite(e.value.loss)
    assert lines == []  # stopped inside the first epoch, not at its end


def test_early_stopping_and_sparse_labels(mnist_small):
    x, y = mnist_small[0][:300], mnist_small[1][:300]
    spec = {
        "hidden": [16],
        "loss": "sparse_categorical_crossentropy",
        "epochs": 6,
        "batch_size": 64,
        "early_stopping": {"monitor": "loss", "min_delta": 100.0},
    }
    r = train(spec, x, y, log=lambda _: None)  # no epoch improves by 100: stop after epoch 2
    assert r.epochs_run == 2 and r.stopped_early
    assert r.model.loss == "sparse_categorical_crossentropy"
    assert 0 <= evaluate(r.model, *mnist_small[2:])["test_accuracy"] <= 1


def test_validation_rows():
    fit, val = np.arange(0, 50), np.arange(50, 60)
    f, v = select_training_rows({"validation": {"split": "prepared"}}, fit, val)
    assert np.array_equal(f, fit) and np.array_equal(v, val)
    # fraction: all rows in data order, the last fraction validates, as Keras splits
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    for n, frac in ((60000, 0.0833), (60, 0.1), (7, 0.5)):
        rows = np.arange(n)
        kf, kv = train_validation_split((rows,), validation_split=frac)
        f, v = validation_split_rows(n, frac)
        assert np.array_equal(f, kf[0]) and np.array_equal(v, kv[0])
    rng = np.random.default_rng(0)
    perm = rng.permutation(100)
    f, v = select_training_rows({"validation": {"fraction": 0.2}}, perm[:90], perm[90:])
    assert np.array_equal(f, np.arange(80)) and np.array_equal(v, np.arange(80, 100))


def test_shuffled_validation_is_train_test_split_row_for_row(mnist_small):
    """docs/experiments.md C: 54,000 / 6,000 of the 60,000 as train_test_split(x, y, test_size=0.1,
    random_state=42) draws them, whatever prepared split the rows come in."""
    from sklearn.model_selection import train_test_split

    x, y = np.arange(60000)[:, None] * 10, np.arange(60000) % 10  # a row's value names it
    x_fit, x_val, y_fit, y_val = train_test_split(x, y, test_size=0.1, random_state=42)
    perm = np.random.default_rng(0).permutation(60000)
    spec = {"validation": {"shuffled": 0.1, "seed": 42}}
    f, v = select_training_rows(spec, perm[:50000], perm[50000:])
    assert (len(f), len(v)) == (54000, 6000)
    assert np.array_equal(x[f], x_fit) and np.array_equal(x[v], x_val) and np.array_equal(y[f], y_fit)
    f2, _ = select_training_rows({"validation": {"shuffled": 0.1, "seed": 43}}, perm[:50000], perm[50000:])
    assert not np.array_equal(f, f2)


# ----------------------------------------------------------------------------- outputs
def test_extract_activations_matches_predict(trained, mnist_small):
    model = trained[0].model
    x = mnist_small[2][:450]
    acts = extract_activations(model, x, batch_size=200)  # two full batches and a ragged one
    assert list(acts) == ["hidden1", "hidden2", "output"]
    by_hand = forward_by_hand(model, x)
    for name, width in (("hidden1", 64), ("hidden2", 32), ("output", 10)):
        a = acts[name]
        assert a.dtype == np.float32 and a.shape == (450, width)
        # predict runs batches of 32: other matrix shapes, rounded differently (7th digit)
        ref = keras.Model(model.inputs, model.get_layer(name).output).predict(x, verbose=0)
        assert_close_to_scale(a, ref)
        # inference mode: dropout (rate 0.2, after hidden1 and hidden2) is off, or hidden2 and
        # output would be far from the plain forward pass (median change ~0.1, max ~2.5)
        assert_close_to_scale(a, by_hand[name])
    np.testing.assert_allclose(acts["output"].sum(axis=1), 1, rtol=1e-5)
    # the same call again gives the same bits: no random mask, deterministic in one process
    again = extract_activations(model, x, batch_size=200)
    for name in acts:
        np.testing.assert_array_equal(again[name], acts[name])


def test_in_memory_test_activations_are_the_extracted_ones(trained, mnist_small, tmp_path):
    """What the seeds' CKA computes from a later repeat's model is what its activations job
    would write for the test rows: the same scaling of the same stored inputs."""
    import tensorflow as tf

    from layermaps.models.stage import test_activations

    model, data = tmp_path / "m.keras", tmp_path / "data.npz"
    trained[0].model.save(model)
    images = np.round(mnist_small[2][:300] * 255).astype(np.uint8)  # stored as data.npz does
    np.savez(data, test_images=images, scale_offset=np.float32(0), scale_factor=np.float32(255))
    threads = tf.config.threading.get_intra_op_parallelism_threads()  # this process's, as set
    [(name, acts)] = test_activations({"m": model}, data, threads=threads, log=print)
    expected = extract_activations(keras.saving.load_model(model), images, offset=0.0, factor=255.0)
    assert name == "m" and list(acts) == list(expected) == ["hidden1", "hidden2", "output"]
    for layer, a in expected.items():
        np.testing.assert_array_equal(acts[layer], a)


def test_constant_units_counts_dead_relus(mnist_small):
    m = build_model({"hidden": [20]})
    w, b = m.get_layer("hidden1").get_weights()
    b[[2, 5, 11]] = -1000.0  # these units never fire: dead ReLUs
    m.get_layer("hidden1").set_weights([w, b])
    assert constant_units(extract_activations(m, mnist_small[2])["hidden1"]) == 3
    a = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    a[:, 1] = 3.0
    assert constant_units(a) == 1
    assert constant_units(a[:0]) == 0


def test_confusion_matrix_and_reload(trained, mnist_small, tmp_path):
    model = trained[0].model
    xt, yt = mnist_small[2], mnist_small[3]
    cm = confusion_matrix(model, xt, yt, 10)
    assert cm.shape == (10, 10) and cm.dtype == np.int64 and cm.sum() == len(yt)
    assert np.array_equal(cm.sum(axis=1), np.bincount(yt, minlength=10))
    metrics = evaluate(model, xt, yt)
    assert np.trace(cm) / len(yt) == pytest.approx(metrics["test_accuracy"])
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras")
    assert evaluate(again, xt, yt) == pytest.approx(metrics)


def test_configure_threads_in_fresh_process():
    # TF fixes its thread pools at start-up, so this needs its own interpreter.
    code = """
import tensorflow as tf
from layermaps.models.training import configure_threads
configure_threads(1)
tf.constant(1.0) + 1.0
configure_threads(1)  # same value after start-up: fine
assert tf.config.threading.get_intra_op_parallelism_threads() == 1
assert tf.config.threading.get_inter_op_parallelism_threads() == 1
try:
    configure_threads(2)
except RuntimeError as e:
    assert "call it first" in str(e), e
else:
    raise AssertionError("changing threads after start-up should fail")
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def test_the_msds_reports_models_as_config_yaml_builds_them():
    """docs/experiments.md B's code: the equal-width pairs 64, 256, 512 (its models 10, 8, 9) and 128 -> 5
    on the reduced inputs (154 components, 70 pixels), with the sweep's RMSprop base."""
    import yaml

    from layermaps.models.spec import all_models
    from layermaps.studies import split_model_datasets

    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    models = all_models(*split_model_datasets(config["models"], config["sweeps"])[:2])
    pairs = {name: spec for name, spec in models.items() if name.startswith("msds_") and "x" in name}
    assert sorted(pairs) == ["msds_256x256", "msds_512x512", "msds_64x64"]
    for name, spec in pairs.items():
        width = int(name.split("_")[1].split("x")[0])
        m = build_model(spec)
        assert [d.units for d in layers_of(m, keras.layers.Dense)] == [width, width, 10]
        assert count_params(m) == 784 * width + width + width * width + width + width * 10 + 10
        assert isinstance(m.optimizer, keras.optimizers.RMSprop) and not layers_of(m, keras.layers.Dropout)
        assert spec["batch_size"] == 32 and spec["validation"] == {"fraction": 0.0833}
    for inputs in (154, 70):  # the reduced inputs' widths
        m = build_model(models["msds_w5_reduced"], input_dim=inputs)
        assert [d.units for d in layers_of(m, keras.layers.Dense)] == [128, 5, 10]
        assert m.get_layer("hidden1").get_weights()[0].shape == (inputs, 128)


def test_the_sit744_variants_as_config_yaml_builds_them():
    """docs/experiments.md C: 512 -> 512 with Adam; dropout 0.3 after each hidden layer; batch norm between
    each Dense and its ReLU; L2 0.01 on the hidden kernels; ExponentialDecay(0.01, 100, 0.96,
    staircase); U(+-1/sqrt(fan_in)); every one validated as train_test_split(0.1, 42) holds out."""
    import yaml

    from layermaps.models.spec import all_models
    from layermaps.studies import split_model_datasets

    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    models = all_models(*split_model_datasets(config["models"], config["sweeps"])[:2])
    sit = {name[len("sit744_") :]: spec for name, spec in models.items() if name.startswith("sit744_")}
    assert sorted(sit) == ["base", "batchnorm", "decay", "dropout", "fan_in", "l2"]
    for spec in sit.values():
        assert spec["hidden"] == [512, 512] and spec["epochs"] == 20 and spec["batch_size"] == 128
        assert spec["validation"] == {"shuffled": 0.1, "seed": 42} and spec["optimizer"]["name"] == "adam"
    built = {name: build_model(spec) for name, spec in sit.items()}
    base = built["base"]
    assert [l.name for l in base.layers] == ["input", "hidden1", "hidden2", "output"]
    assert all(
        isinstance(base.get_layer(n).kernel_initializer, keras.initializers.GlorotUniform)
        for n in ("hidden1", "hidden2", "output")
    )
    assert [(d.name, d.rate) for d in layers_of(built["dropout"], keras.layers.Dropout)] == [
        ("hidden1_dropout", 0.3),
        ("hidden2_dropout", 0.3),
    ]
    assert [l.name for l in built["batchnorm"].layers] == [
        "input",
        "hidden1_dense",
        "hidden1_bn",
        "hidden1",
        "hidden2_dense",
        "hidden2_bn",
        "hidden2",
        "output",
    ]
    assert built["batchnorm"].get_layer("hidden1_dense").activation is keras.activations.linear
    assert [built["l2"].get_layer(n).kernel_regularizer.l2 for n in ("hidden1", "hidden2")] == pytest.approx(
        [0.01] * 2
    )
    assert built["l2"].get_layer("output").kernel_regularizer is None
    schedule = built["decay"].optimizer._learning_rate
    assert float(schedule(250)) == pytest.approx(0.01 * 0.96**2)  # staircase: step 250 -> 2 decays
    assert float(schedule(99)) == pytest.approx(0.01)
    assert float(base.optimizer.learning_rate) == pytest.approx(0.001)
    w = built["fan_in"].get_layer("hidden2").kernel.numpy()
    assert 0.99 / np.sqrt(512) < np.abs(w).max() <= 1 / np.sqrt(512) + 1e-7
