"""The TensorFlow side: build, train, evaluate a spec'd MLP and extract its layer activations.

Specs come from `layermaps.models.spec` (validated there, before TensorFlow is imported).
Call `configure_threads` before anything else touches TensorFlow.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ INFO banners out of logs

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from layermaps.models.spec import ModelSpecError, normalize_model  # noqa: E402

__all__ = [
    "TrainResult",
    "TrainingDiverged",
    "activation_layer_names",
    "build_model",
    "configure_threads",
    "confusion_matrix",
    "predict_classes",
    "constant_units",
    "count_params",
    "evaluate",
    "extract_activations",
    "select_training_rows",
    "set_seed",
    "train",
    "validation_split_rows",
]

_HIDDEN = re.compile(r"hidden(\d+)")


class TrainingDiverged(RuntimeError):
    """The training loss became NaN/inf: the model is useless, so stop loudly."""

    def __init__(self, epoch: int, batch: int, loss: float):
        self.epoch, self.batch, self.loss = epoch, batch, loss
        super().__init__(
            f"training diverged: loss = {loss} at epoch {epoch}, batch {batch}; try a lower "
            f"learning rate, batch normalization, or check the inputs are scaled to [0, 1]"
        )


@dataclass
class TrainResult:
    model: keras.Model
    history: dict[str, list[float]]  # per-epoch loss, accuracy, val_loss, val_accuracy
    epochs_run: int
    train_seconds: float
    stopped_early: bool = False


# ----------------------------------------------------------------------------- setup
def configure_threads(threads: int) -> None:
    """Give TensorFlow `threads` intra-op and inter-op threads (a rule's `threads`).

    TF fixes these when its runtime starts: call before any tensor op. Calling again with
    the same value is harmless; a different value after start-up raises RuntimeError.
    """
    threads = int(threads)
    cfg = tf.config.threading
    if (cfg.get_intra_op_parallelism_threads(), cfg.get_inter_op_parallelism_threads()) == (threads, threads):
        return
    try:
        cfg.set_intra_op_parallelism_threads(threads)
        cfg.set_inter_op_parallelism_threads(threads)
    except RuntimeError as e:
        raise RuntimeError(
            f"configure_threads({threads}) came after TensorFlow started; "
            f"call it first thing in the job ({e})"
        ) from e


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, TF and Keras, and make TF ops deterministic (process-wide).

    Also clears the Keras session: models trained earlier in the process are released
    and layer-name counters restart. (Re-seeding alone already makes a repeat identical.)
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def _initializer(name: str):
    if name == "fan_in_uniform":
        # U(-l, l) with l = sqrt(3 * scale / fan_in) = 1/sqrt(fan_in) for scale = 1/3; a
        # built-in class, so model.keras reloads without custom objects.
        return keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform")
    return keras.initializers.get(name)  # a fresh instance per layer (unseeded reuse warns)


def _optimizer(opt: dict):
    lr = opt["learning_rate"]
    if opt["schedule"] is not None:
        s = opt["schedule"]  # only exponential_decay is accepted by modelspec
        lr = keras.optimizers.schedules.ExponentialDecay(
            lr, s["decay_steps"], s["decay_rate"], staircase=s["staircase"]
        )
    # Keras knows each name of modelspec.OPTIMIZERS (the one list of allowed optimizers)
    return keras.optimizers.get({"class_name": opt["name"], "config": {"learning_rate": lr}})


def build_model(spec: dict, input_dim: int = 784, n_classes: int = 10, *, name: str = "model") -> keras.Model:
    """Compile the MLP of `spec`; the layer named hidden{i} is hidden layer i after activation."""
    spec = normalize_model(name, spec)  # raises ModelSpecError before any TF work
    inputs = keras.Input(shape=(input_dim,), name="input")
    x = inputs
    reg = keras.regularizers.L2(spec["l2"]) if spec["l2"] > 0 else None
    for i, (width, rate) in enumerate(zip(spec["hidden"], spec["dropout"]), start=1):
        common = dict(kernel_initializer=_initializer(spec["initializer"]), kernel_regularizer=reg)
        if spec["batch_norm"]:
            # Dense -> BN -> activation; the Dense bias is redundant under BN but kept, as in
            # the assignment (docs/experiments.md C) that this reproduces.
            x = keras.layers.Dense(width, name=f"hidden{i}_dense", **common)(x)
            x = keras.layers.BatchNormalization(name=f"hidden{i}_bn")(x)
            x = keras.layers.Activation(spec["activation"], name=f"hidden{i}")(x)
        else:
            x = keras.layers.Dense(width, activation=spec["activation"], name=f"hidden{i}", **common)(x)
        if rate > 0:
            x = keras.layers.Dropout(rate, name=f"hidden{i}_dropout")(x)
    # The initializer is the network's (docs/experiments.md C compares whole-network schemes); L2 is on
    # hidden kernels only, as in the assignment.
    outputs = keras.layers.Dense(
        n_classes, activation="softmax", name="output", kernel_initializer=_initializer(spec["initializer"])
    )(x)
    model = keras.Model(inputs, outputs, name="mlp")
    model.compile(optimizer=_optimizer(spec["optimizer"]), loss=spec["loss"], metrics=["accuracy"])
    return model


# ----------------------------------------------------------------------------- data
def validation_split_rows(n_rows: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(fit, val) positions as Keras's `validation_split` takes them: the LAST rows validate.

    Same arithmetic as keras (array_slicing.train_validation_split): split at
    floor(n * (1 - fraction)).
    """
    split_at = int(math.floor(n_rows * (1.0 - fraction)))
    if split_at in (0, n_rows):
        raise ValueError(f"validation fraction {fraction} of {n_rows} rows leaves an empty split")
    return np.arange(split_at), np.arange(split_at, n_rows)


def select_training_rows(spec: dict, fit_idx, val_idx) -> tuple[np.ndarray, np.ndarray]:
    """Which rows of the train arrays to fit on and validate on, for either validation mode.

    {split: prepared}: the prepared split as given. {fraction: f}: all fit+val rows in data
    order, the last fraction validating (what the MSDS report's validation_split=0.0833 did).
    {shuffled: f, seed: s}: all fit+val rows in data order, split as scikit-learn's
    train_test_split(rows, test_size=f, random_state=s) splits them (docs/experiments.md C), fit rows in
    its order.
    """
    fit_idx, val_idx = np.asarray(fit_idx, dtype=np.int64), np.asarray(val_idx, dtype=np.int64)
    val = spec.get("validation") or {"split": "prepared"}
    if "split" in val:
        return fit_idx, val_idx
    rows = np.sort(np.concatenate([fit_idx, val_idx]))
    if "shuffled" in val:
        from sklearn.model_selection import train_test_split

        fit_rows, val_rows = train_test_split(rows, test_size=val["shuffled"], random_state=val["seed"])
        return fit_rows, val_rows
    fit_pos, val_pos = validation_split_rows(len(rows), val["fraction"])
    return rows[fit_pos], rows[val_pos]


def _targets(loss: str, y: np.ndarray, n_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if loss == "categorical_crossentropy" and y.ndim == 1:
        return keras.utils.to_categorical(y, n_classes).astype(np.float32)
    return y


def _loss_name(model: keras.Model) -> str:
    loss = model.loss  # a string as compiled; a Loss object after keras.saving.load_model
    if isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or keras.losses.serialize(loss)["config"]["name"]


# ----------------------------------------------------------------------------- callbacks
class _EpochLog(keras.callbacks.Callback):
    """One readable line per epoch (Keras's progress bar is unreadable in a log file)."""

    def __init__(self, log: Callable[[str], None], epochs: int):
        super().__init__()
        self.log, self.epochs, self.t0 = log, epochs, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"{k} {logs[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs]
        self.log(
            f"epoch {epoch + 1}/{self.epochs}  "
            + "  ".join(parts)
            + f"  {time.perf_counter() - self.t0:.1f}s"
        )


class _RaiseOnNaN(keras.callbacks.Callback):
    """Raise TrainingDiverged on the first non-finite loss (TerminateOnNaN only stops).

    Checking every batch makes Keras read the loss synchronously; on these small MLPs the
    cost was below timing noise (seed MLP, 50k rows, 2 cores).
    """

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(self.epoch + 1, batch + 1, float(loss))


# ----------------------------------------------------------------------------- training
def train(
    spec: dict,
    x_fit,
    y_fit,
    x_val=None,
    y_val=None,
    *,
    log: Callable[[str], None] = print,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    n_classes: int = 10,
    name: str = "model",
) -> TrainResult:
    """Seed, build and fit the model of `spec` on integer labels; validate on (x_val, y_val).

    For {validation: {fraction: f}} pass the rows chosen by `select_training_rows`. Extra
    `callbacks` (e.g. MLflow per-epoch logging) run after the epoch log line is written.
    Raises TrainingDiverged on a NaN/inf loss.
    """
    spec = normalize_model(name, spec)
    set_seed(spec["seed"])
    model = build_model(spec, int(np.shape(x_fit)[1]), n_classes, name=name)
    validation = None
    if x_val is not None and len(x_val):
        validation = (x_val, _targets(spec["loss"], y_val, n_classes))

    cbs: list[keras.callbacks.Callback] = [_RaiseOnNaN(), _EpochLog(log, spec["epochs"])]
    stopper = None
    if spec["early_stopping"] is not None:
        es = spec["early_stopping"]
        if es["monitor"].startswith("val_") and validation is None:
            raise ModelSpecError(
                f"model {name!r}: early_stopping.monitor = {es['monitor']!r} needs validation data"
            )
        stopper = keras.callbacks.EarlyStopping(**es)
        cbs.append(stopper)
    cbs.extend(callbacks)

    t0 = time.perf_counter()
    hist = model.fit(
        x_fit,
        _targets(spec["loss"], y_fit, n_classes),
        validation_data=validation,
        epochs=spec["epochs"],
        batch_size=spec["batch_size"],
        shuffle=True,
        verbose=0,
        callbacks=cbs,
    )
    seconds = time.perf_counter() - t0
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    return TrainResult(
        model=model,
        history=history,
        epochs_run=len(history.get("loss", [])),
        train_seconds=seconds,
        stopped_early=bool(stopper is not None and stopper.stopped_epoch > 0),
    )


# ----------------------------------------------------------------------------- evaluation
def evaluate(model: keras.Model, x_test, y_test, *, batch_size: int = 4096) -> dict[str, float]:
    """Test loss (including any L2 penalty, as Keras reports it) and accuracy."""
    n_classes = int(model.output_shape[-1])
    loss, acc = model.evaluate(
        x_test, _targets(_loss_name(model), y_test, n_classes), batch_size=batch_size, verbose=0
    )
    return {"test_loss": float(loss), "test_accuracy": float(acc)}


def predict_classes(model: keras.Model, x, *, batch_size: int = 4096) -> np.ndarray:
    return np.argmax(model.predict(x, batch_size=batch_size, verbose=0), axis=1)


def confusion_matrix(model: keras.Model, x, y, n_classes: int = 10) -> np.ndarray:
    """counts[true, predicted] as an int64 (n_classes, n_classes) array."""
    pred = predict_classes(model, x)
    y = np.asarray(y).astype(np.int64)
    return (
        np.bincount(y * n_classes + pred, minlength=n_classes * n_classes)
        .reshape(n_classes, n_classes)
        .astype(np.int64)
    )


def count_params(model: keras.Model) -> int:
    """All parameters, BatchNorm's non-trainable moving statistics included."""
    return int(model.count_params())


# ----------------------------------------------------------------------------- activations
def activation_layer_names(model: keras.Model) -> list[str]:
    """hidden1..hiddenN (numeric order) then 'output': the layers extract_activations returns."""
    hidden = sorted(
        (int(m.group(1)), layer.name) for layer in model.layers if (m := _HIDDEN.fullmatch(layer.name))
    )
    return [n for _, n in hidden] + ["output"]


def extract_activations(
    model: keras.Model, x, *, batch_size: int = 4096, offset=0.0, factor=1.0
) -> dict[str, np.ndarray]:
    """{layer name: float32 (n, units)} for every hidden{i} layer and 'output', in that order.

    One sub-model with all these outputs, run batch by batch in inference mode (dropout
    off, BN moving statistics), filling preallocated arrays: peak memory stays near the
    size of the result, not a copy per layer or per batch list. Each batch is scaled as
    (x - offset) / factor (layermaps.data.datasets.scaled) on its own, never the whole input.
    """
    names = activation_layer_names(model)
    sub = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    n = len(x)
    out = {name: np.empty((n, int(model.get_layer(name).output.shape[-1])), np.float32) for name in names}
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        # predict_on_batch reuses one compiled predict function and runs with training=False.
        batch = (np.asarray(x[start:stop], np.float32) - offset) / factor
        for name, a in zip(names, sub.predict_on_batch(batch)):
            out[name][start:stop] = a
    return out


def constant_units(a: np.ndarray) -> int:
    """How many columns never change over the rows (e.g. dead ReLU units); 0 for no rows."""
    a = np.asarray(a)
    if a.ndim != 2 or len(a) == 0:
        return 0
    return int(np.count_nonzero(np.all(a == a[:1], axis=0)))
