"""Layers over training, planned and computed without the workflow: snapshot epochs in a model
spec, the sources a study of snapshots embeds, the figures it plans, a source holding some of
the fit rows, and aligned maps."""

import numpy as np
import pytest
from test_studies import CONFIG, plan

from layermaps.models.spec import ModelSpecError, normalize_model, snapshot_epochs
from layermaps.paths import snapshot_name, split_snapshot
from layermaps.planning import snapshot_plan


@pytest.mark.parametrize(
    "given, epochs, expected",
    [
        (["first", "middle", "last"], 20, [1, 10, 20]),
        (["first", "middle", "last"], 3, [1, 2, 3]),
        (["first", "middle", "last"], 2, [1, 2]),  # middle of 2 is the first: once
        ([5, "last", 5], 10, [5, 10]),
        ([], 10, []),
    ],
)
def test_snapshot_epochs_are_sorted_epoch_numbers(given, epochs, expected):
    spec = normalize_model("m", {"hidden": [4], "epochs": epochs, "snapshots": given})
    assert snapshot_epochs(spec) == expected
    assert ("snapshots" in spec) == bool(expected)  # none: the spec (and its jobs) as before
    assert normalize_model("m", spec) == spec


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"snapshots": [0]}, "snapshots[0] = 0: an epoch from 1 to 10"),
        ({"snapshots": [11]}, "snapshots[0] = 11"),
        ({"snapshots": ["end"]}, "snapshots[0] = 'end': not one of: first, middle, last"),
        ({"snapshots": "last"}, "a list of epochs"),
        ({"snapshots": [1], "early_stopping": {"patience": 2}}, "needs a fixed number of epochs"),
    ],
)
def test_bad_snapshots_are_refused_by_key(spec, fragment):
    with pytest.raises(ModelSpecError, match=None) as err:
        normalize_model("m", {"hidden": [4], "epochs": 10, **spec}, where="models.m")
    assert fragment in str(err.value) and "models.m.snapshots" in str(err.value)


def _snapshot_config(**study_embed):
    config = {
        **CONFIG,
        "models": {
            **CONFIG["models"],
            "seed_mlp": {"hidden": [8, 4], "epochs": 4, "snapshots": ["first", "last"]},
        },
    }
    config["studies"] = {
        **CONFIG["studies"],
        "training": {
            "datasets": ["mnist"],
            "models": ["seed_mlp", "ws_one"],
            "reducers": ["umap", "pca"],
            "embed": {"raw": False, "layers": "every", "snapshots": True, **study_embed},
        },
    }
    return config


def test_a_study_of_snapshots_embeds_every_layer_of_each_snapshot():
    specs, studies, trained, per_study = plan(_snapshot_config())
    got = per_study["training"]["mnist"]
    # ws_one keeps no snapshots: a study of snapshots embeds nothing of it
    assert list(got) == [f"seed_mlp@epoch{e}/{l}" for e in (1, 4) for l in ("hidden1", "hidden2", "output")]
    assert all(maps == ["pca", "umap"] for maps in got.values())
    # the other studies still embed the trained model
    assert "seed_mlp/hidden1" in per_study["hidden_layers"]["mnist"]
    assert snapshot_plan(got) == {
        "seed_mlp": {"epochs": [1, 4], "layers": ["hidden1", "hidden2", "output"], "maps": ["pca", "umap"]}
    }
    assert snapshot_plan(per_study["hidden_layers"]["mnist"]) == {}


def test_a_study_of_snapshots_without_any_is_refused():
    config = _snapshot_config()
    config["studies"]["training"]["models"] = ["ws_one"]
    with pytest.raises(
        ValueError, match="studies.training.embed.snapshots: none of its models keeps snapshots"
    ):
        plan(config)


def test_snapshot_names_round_trip():
    assert snapshot_name("msds_w1.0e+2", 10) == "msds_w1.0e+2@epoch10"
    assert split_snapshot("msds_w1.0e+2@epoch10") == ("msds_w1.0e+2", 10)
    assert split_snapshot("seed_mlp") == ("seed_mlp", None)


def test_a_source_of_some_fit_rows_loads_with_their_labels(tmp_path):
    """A snapshot's train array holds a subset of the fit rows (fit_rows.npy beside it): its
    labels are those rows' labels, and an array of another length is refused."""
    from layermaps.embed.stage import dataset_fit_labels, load_source

    train_labels = np.arange(20) % 4
    fit_idx = np.arange(2, 18)
    np.savez(
        tmp_path / "data.npz", train_labels=train_labels, fit_idx=fit_idx, test_labels=np.array([0, 1, 2])
    )
    folder = tmp_path / "activations" / "m@epoch1"
    folder.mkdir(parents=True)
    rows = np.array([0, 5, 9])  # positions within the 16 fit rows
    np.save(folder / "fit_rows.npy", rows)
    np.save(folder / "h_train.npy", np.arange(6, dtype=np.float32).reshape(3, 2))
    np.save(folder / "h_test.npy", np.zeros((3, 2), np.float32))
    x_fit, y_fit, x_test, y_test = load_source(
        folder / "h_train.npy", folder / "h_test.npy", tmp_path / "data.npz"
    )
    assert x_fit.tolist() == [[0, 1], [2, 3], [4, 5]]
    assert y_fit.tolist() == train_labels[fit_idx][rows].tolist() == [2, 3, 3]
    assert dataset_fit_labels(tmp_path / "data.npz").tolist() == train_labels[fit_idx].tolist()
    np.save(folder / "h_train.npy", np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="do not match the rows"):
        load_source(folder / "h_train.npy", folder / "h_test.npy", tmp_path / "data.npz")


def test_aligned_frames_start_from_the_previous_frame():
    """A frame is fitted from the previous frame's coordinates: after a few epochs the rows
    lie near where the previous frame put them (in umap-learn's 0..10 box of an init), while
    a map from a random start lies anywhere."""
    from layermaps.embed.aligned import aligned_maps
    from layermaps.embed.reducers import embed
    from layermaps.figures.snapshots import in_box

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6.0, size=(4, 10))
    y = np.repeat(np.arange(4), 40)
    x = (centres[y] + rng.normal(size=(160, 10))).astype(np.float32)
    x_test = x[::4].copy()
    first = embed("umap", x, x_test, seed=0, settings={"n_epochs": 100})
    few = {"n_epochs": 10}
    frames = aligned_maps(first, [(x, x_test), (x, x_test)], reducer="umap", settings=few, seed=1)
    assert len(frames) == 2 and frames[0] is first and frames[1].test.shape == (40, 2)
    start = in_box(first.train, first.train)
    random_start = embed("umap", x, x_test, seed=1, settings={**few, "init": "random"}).train
    assert np.abs(frames[1].train - start).mean() < 1.5
    assert np.abs(in_box(random_start, random_start) - start).mean() > 2.5  # what unaligned looks like
    with pytest.raises(ValueError, match="the same rows"):
        aligned_maps(first, [(x, x_test), (x[:100], x_test)], reducer="umap", settings=few, seed=1)
