"""The training stage's jobs: train one model on one dataset; extract its activations.

Called by workflow/scripts/train.py and activations.py inside an active MLflow run.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import mlflow
import numpy as np

from layermaps.atomic import atomic_path, write_text
from layermaps.data.datasets import load_prepared, scaled
from layermaps.models import training
from layermaps.models.training import configure_threads
from layermaps.tracking.worktime import work

# configure_threads must run before any TensorFlow op; importing is fine.


class MlflowEpochLogger(keras.callbacks.Callback):
    """Per-epoch metrics (epoch_loss, epoch_val_accuracy, ...) to the active MLflow run, with
    the epoch as step; the final evaluation keeps the plain names. Epoch hook only:
    a per-batch hook would make Keras sync its logs every batch."""

    def on_epoch_end(self, epoch, logs=None):
        mlflow.log_metrics({f"epoch_{k}": float(v) for k, v in (logs or {}).items()}, step=epoch + 1)


class SaveSnapshots(keras.callbacks.Callback):
    """Save the model after each epoch of `paths` (epoch number -> .keras path): the
    snapshots whose layers are followed over training. Saving reads the weights only."""

    def __init__(self, paths: dict[int, str], log=print):
        super().__init__()
        self.paths, self.log = paths, log

    def on_epoch_end(self, epoch, logs=None):
        path = self.paths.get(epoch + 1)
        if path:
            with atomic_path(path) as tmp:
                self.model.save(tmp)
            self.log(f"[train] snapshot of epoch {epoch + 1}: {path}")


def write_history(path, history: dict) -> None:
    keys = list(history)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", *keys])
        for i in range(len(history[keys[0]])):
            w.writerow([i + 1, *(f"{history[k][i]:.6g}" for k in keys)])


def write_confusion(path, counts, class_names) -> None:
    """confusion_test.csv: a header of class names, then a row of counts per true class; the
    csv module quotes a name that holds a comma or a quote (figures.stage.read_confusion)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(class_names)
        w.writerows(np.asarray(counts, dtype=np.int64).tolist())


def train_job(
    *,
    dataset: str,
    model_name: str,
    spec: dict,
    data_path,
    threads: int,
    out: dict,
    snapshots: dict | None = None,
    log=print,
) -> dict:
    """Train, evaluate and save one model; log everything to the active run; return metrics.
    snapshots: epoch -> path of the model saved after that epoch."""
    configure_threads(threads)
    data = load_prepared(data_path)
    class_names = [str(c) for c in data["class_names"]]
    x_train, y_train = data["train_images"], data["train_labels"]
    fit_rows, val_rows = training.select_training_rows(spec, data["fit_idx"], data["val_idx"])
    log(
        f"[train] {dataset}/{model_name}: {len(fit_rows)} training rows, {len(val_rows)} "
        f"validation rows, {spec['epochs']} epochs at most, {threads} thread(s)"
    )
    from layermaps.tracking.store import log_dataset

    log_dataset(dataset, data, source=str(Path(data_path).resolve()))
    x_fit, y_fit = scaled(x_train[fit_rows], data), y_train[fit_rows]
    x_val, y_val = scaled(x_train[val_rows], data), y_train[val_rows]
    with work("fit"):
        result = training.train(
            spec,
            x_fit,
            y_fit,
            x_val,
            y_val,
            log=log,
            callbacks=[MlflowEpochLogger(), SaveSnapshots(snapshots or {}, log)],
            name=model_name,
            n_classes=len(class_names),
        )
    model = result.model
    x_test, y_test = scaled(data["test_images"], data), data["test_labels"]
    with work("evaluate"):
        metrics = {
            **training.evaluate(model, x_test, y_test),
            "train_accuracy": training.evaluate(model, x_fit, y_fit)["test_accuracy"],
            "val_accuracy": (
                training.evaluate(model, x_val, y_val)["test_accuracy"] if len(val_rows) else float("nan")
            ),
            "epochs_run": result.epochs_run,
            "stopped_early": int(result.stopped_early),
            "train_seconds": round(result.train_seconds, 3),
            "seconds_per_epoch": round(result.train_seconds / max(result.epochs_run, 1), 3),
            "parameters": training.count_params(model),
        }
        cm = training.confusion_matrix(model, x_test, y_test, len(class_names))

    with atomic_path(out["model"]) as tmp:
        model.save(tmp)
    write_history(out["history"], result.history)
    write_text(out["metrics"], json.dumps(metrics, indent=2) + "\n")
    write_confusion(out["confusion"], cm, class_names)

    # the curves and the confusion figure are plot_training's (figures/ of this same run)
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    for key in ("history", "metrics", "confusion"):
        mlflow.log_artifact(out[key])
    import tensorflow as tf
    from mlflow.models import infer_signature

    example = x_test[:5]
    # explicit requirements: mlflow's own inference imports the model in a subprocess (slow)
    mlflow.keras.log_model(
        model,
        name="model",
        signature=infer_signature(example, model.predict(example, verbose=0)),
        pip_requirements=[f"tensorflow-cpu=={tf.__version__}", f"keras=={keras.__version__}"],
    )
    log(
        f"[train] {dataset}/{model_name}: test accuracy {metrics['test_accuracy']:.4f}, "
        f"{metrics['epochs_run']} epochs in {metrics['train_seconds']:.1f} s"
    )
    return metrics


def activations_job(
    *, model_path, data_path, threads: int, out: dict, subset: dict | None = None, rows_path=None, log=print
) -> dict:
    """Every hidden layer (after its activation) and the output, train and test rows, float32.

    out maps (layer, split) -> .npy path. Constant (dead) units are counted, never an error.
    With a `subset` (layermaps.embed.subsets, e.g. a stratified 20 %: a snapshot's) the train
    arrays hold only those of the fit rows, whose positions within the fit rows go to
    `rows_path` (paths.SOURCE_ROWS); the test arrays hold every test row.
    """
    from layermaps.embed.subsets import subset_rows

    configure_threads(threads)
    model = keras.saving.load_model(model_path)
    data = load_prepared(data_path)
    inputs = {"train": data["train_images"], "test": data["test_images"]}
    if subset is not None:
        rows = subset_rows(subset, data["train_labels"][data["fit_idx"]])
        inputs["train"] = inputs["train"][data["fit_idx"][rows]]
        with atomic_path(rows_path) as tmp:
            np.save(tmp, rows)
        log(f"[activations] train rows: {len(rows)} of the {len(data['fit_idx'])} fit rows ({subset})")
    metrics = {}
    for split in ("train", "test"):
        with work("extract"):
            acts = training.extract_activations(
                model, inputs[split], offset=data["scale_offset"], factor=data["scale_factor"]
            )
        for layer, array in acts.items():
            with atomic_path(out[(layer, split)]) as tmp:
                np.save(tmp, array)
            constant = training.constant_units(array)
            if split == "train":
                metrics[f"constant_units_{layer}"] = constant
                metrics[f"units_{layer}"] = array.shape[1]
            log(f"[activations] {layer} {split}: {array.shape}, {constant} constant unit(s)")
        del acts
    mlflow.log_metrics(metrics)
    return metrics


def test_activations(model_paths: dict, data_path, *, threads: int = 1, log=print):
    """model -> {layer: float32 activations of every test row}, in memory, as an activations job
    writes them: for a job that reads no more than the test rows of models whose activations no
    other job needs (the seeds' CKA of a sweep's later repeats), one TensorFlow start for them
    all instead of one activations job per model, which also extracts the training rows."""
    configure_threads(threads)
    data = load_prepared(data_path)
    for name, path in model_paths.items():
        with work("extract"):
            acts = training.extract_activations(
                keras.saving.load_model(path),
                data["test_images"],
                offset=data["scale_offset"],
                factor=data["scale_factor"],
            )
        log(f"[activations] {name}: {', '.join(f'{k} {a.shape}' for k, a in acts.items())} (test rows)")
        yield name, acts
