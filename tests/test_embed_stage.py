"""The embedding stage's file glue: which rows are embedded, and the summary rows."""

import csv
import json

import numpy as np
import pytest

from layermaps.data.datasets import save_npz
from layermaps.embed.stage import load_source, split_source, summary_rows, write_csv


@pytest.fixture
def files(tmp_path):
    labels = np.arange(10) % 3
    save_npz(
        tmp_path / "data.npz",
        {
            "train_labels": labels,
            "test_labels": np.array([0, 1]),
            "fit_idx": np.array([0, 2, 4, 6, 8]),
            "val_idx": np.array([1, 3, 5, 7, 9]),
        },
    )
    np.save(tmp_path / "train.npy", np.arange(20, dtype=np.float32).reshape(10, 2))
    np.save(tmp_path / "test.npy", np.ones((2, 2), np.float32))
    return tmp_path


def test_load_source_takes_the_fit_rows(files):
    x_fit, y_fit, x_test, y_test = load_source(files / "train.npy", files / "test.npy", files / "data.npz")
    np.testing.assert_array_equal(x_fit[:, 0], [0, 4, 8, 12, 16])
    assert y_fit.tolist() == [0, 2, 1, 0, 2] and y_test.tolist() == [0, 1]
    assert x_fit.dtype == np.float32 and x_fit.flags["C_CONTIGUOUS"]


def test_load_source_refuses_arrays_of_another_run(files):
    np.save(files / "short.npy", np.zeros((9, 2), np.float32))
    with pytest.raises(ValueError, match="do not match the rows"):
        load_source(files / "short.npy", files / "test.npy", files / "data.npz")


def test_summary_rows_one_per_k(tmp_path):
    score = {
        "dataset": "mnist",
        "source": "seed_mlp/hidden2",
        "model": "seed_mlp",
        "layer": "hidden2",
        "reducer": "umap",
        "protocol": "inductive",
        "policy": "fit",
        "trustworthiness": 0.97,
        "fit_seconds": 1.5,
        "transform_seconds": 0.25,
        "knn": {"k3": {"k": 3, "accuracy": 0.9}, "k5": {"k": 5, "accuracy": 0.95}},
    }
    (tmp_path / "s.json").write_text(json.dumps(score))
    rows = summary_rows([tmp_path / "s.json"])
    assert [(r["k"], r["accuracy"]) for r in rows] == [(3, 0.9), (5, 0.95)]
    write_csv(tmp_path / "out.csv", rows)
    with open(tmp_path / "out.csv") as f:
        assert list(csv.DictReader(f))[1]["transform_seconds"] == "0.25"
    assert split_source("raw") == ("raw", "raw") and split_source("m/hidden1") == ("m", "hidden1")


def test_score_record_round_trip_and_accuracy(tmp_path):
    from layermaps.embed.records import Score, accuracy_at, load_scores

    knn = {"k10": {"k": 10, "accuracy": 0.5, "per_class": {"0": 0.25}}, "k3": {"k": 3, "accuracy": 0.75}}
    score = Score(
        dataset="mnist",
        source="m/hidden1",
        model="m",
        layer="hidden1",
        reducer="umap",
        protocol="inductive",
        policy="fit",
        knn=knn,
        trustworthiness=0.9,
        fit_seconds=1.0,
        transform_seconds=0.5,
        n_train=20,
        n_test=5,
        mlflow_run_id="abc",
    )
    score.save(tmp_path / "umap.json")
    assert Score.load(tmp_path / "umap.json") == score
    assert score.ks == [10, 3]  # the order they were scored in: the config's
    assert score.accuracy(3) == 0.75 and np.isnan(score.accuracy(5))
    assert np.isnan(accuracy_at(None, 3)) and accuracy_at(score, 10) == 0.5
    # a ceiling record has no run of its own: its file has no run keys at all
    ceiling = Score(
        **{**score.to_dict(), "reducer": "unreduced", "n_train": None, "n_test": None, "mlflow_run_id": None}
    )
    ceiling.save(tmp_path / "unreduced.json")
    assert "mlflow_run_id" not in json.loads((tmp_path / "unreduced.json").read_text())
    assert set(load_scores([tmp_path / "umap.json", tmp_path / "unreduced.json"])) == {
        ("m/hidden1", "umap"),
        ("m/hidden1", "unreduced"),
    }
    (tmp_path / "other.json").write_text(json.dumps({**score.to_dict(), "colour": "red"}))
    with pytest.raises(ValueError, match="other.json: not a score record .*colour"):
        Score.load(tmp_path / "other.json")
