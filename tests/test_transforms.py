"""Reduced inputs (docs/experiments.md B): PCA and a forest's most important pixels, fitted on training
rows only and reapplied from the stored transform to the test rows."""

import numpy as np
import pytest
from PIL import Image

from layermaps.data.datasets import dataset_specs, prepare, save_npz
from layermaps.data.transforms import InputTransform, fit_job, fit_transform, reduced_dataset
from layermaps.figures import plots

PCA = {"kind": "reduced", "from": "mnist", "method": "pca", "keep": 20, "seed": 42}
FOREST = {"kind": "reduced", "from": "mnist", "method": "forest", "keep": 15, "trees": 10, "seed": 42}


@pytest.fixture(scope="module")
def parent(mnist_small, tmp_path_factory):
    """A prepared MNIST parent (uint8 pixels, scale 255) of 600 training and 200 test rows."""
    x, y, xt, yt = mnist_small
    raw = {
        "train_images": np.rint(x[:600] * 255).astype(np.uint8),
        "train_labels": y[:600],
        "test_images": np.rint(xt[:200] * 255).astype(np.uint8),
        "test_labels": yt[:200],
        "class_names": np.array([str(i) for i in range(10)]),
        "image_shape": np.array([28, 28]),
    }
    arrays = prepare(raw, scale="255", train_size=None, test_size=None, validation_fraction=0.2, seed=0)
    path = tmp_path_factory.mktemp("parent") / "data.npz"
    save_npz(path, arrays)
    return path, arrays


@pytest.mark.parametrize("spec, width", [(PCA, 20), (FOREST, 15)])
def test_reduced_inputs_keep_the_rows_and_split_of_the_parent(parent, tmp_path, spec, width):
    path, arrays = parent
    transform = fit_job(
        dataset="r", spec=spec, parent_path=path, threads=1, out_path=tmp_path / "t.npz", log=lambda *a: None
    )
    assert transform.n_fit == 600  # every training row of the parent, no test row
    reduced = reduced_dataset(arrays, InputTransform.load(tmp_path / "t.npz"))
    assert reduced["train_images"].shape == (600, width) and reduced["test_images"].shape == (200, width)
    for key in ("train_labels", "test_labels", "fit_idx", "val_idx", "class_names"):
        np.testing.assert_array_equal(reduced[key], arrays[key])
    assert str(reduced["scale"]) == "none" and reduced["image_shape"].size == 0
    # the test rows went through the stored transform
    stored = InputTransform.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(
        reduced["test_images"], stored.apply(arrays["test_images"] / np.float32(255))
    )


@pytest.mark.parametrize("spec", [PCA, FOREST])
def test_the_fit_never_sees_a_test_row(parent, tmp_path, spec):
    path, arrays = parent
    changed = {**arrays, "test_images": 255 - arrays["test_images"]}  # every test row changed
    save_npz(tmp_path / "changed.npz", changed)
    quiet = dict(dataset="r", spec=spec, threads=1, log=lambda *a: None)
    a = fit_job(parent_path=path, out_path=tmp_path / "a.npz", **quiet)
    b = fit_job(parent_path=tmp_path / "changed.npz", out_path=tmp_path / "b.npz", **quiet)
    for field in ("mean", "components", "columns", "importances"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_the_forest_keeps_its_most_important_pixels(parent):
    _, arrays = parent
    x = arrays["train_images"] / np.float32(255)
    t = fit_transform(FOREST, "mnist", x, arrays["train_labels"], log=lambda *a: None)
    assert len(t.columns) == 15 and len(set(t.columns.tolist())) == 15
    assert t.importances[t.columns].min() >= np.delete(t.importances, t.columns).max()
    assert np.all(np.diff(t.importances[t.columns]) <= 0)  # most important first
    assert np.ptp(x[:, t.columns], axis=0).min() > 0  # never a blank border pixel
    np.testing.assert_array_equal(t.apply(x[:3]), x[:3, t.columns])
    with pytest.raises(ValueError, match="takes rows of 784 columns"):
        t.apply(x[:3, :100])


def test_pca_keeps_the_leading_components(parent):
    _, arrays = parent
    x = arrays["train_images"] / np.float32(255)
    t = fit_transform(PCA, "mnist", x, arrays["train_labels"], log=lambda *a: None)
    z = t.apply(x)
    assert z.shape == (600, 20) and abs(z.mean(axis=0)).max() < 1e-3  # centred on the training rows
    assert np.all(np.diff(z.var(axis=0)) <= 1e-6) and 0.5 < t.explained_variance_ratio.sum() < 1
    assert t.describe().startswith("pca 20 of mnist (")
    with pytest.raises(ValueError, match="keeps between 1 and 783"):
        fit_transform({**PCA, "keep": 784}, "mnist", x, arrays["train_labels"])


@pytest.mark.parametrize("spec", [PCA, FOREST])
def test_the_transform_figure(parent, tmp_path, spec):
    path, arrays = parent
    t = fit_job(
        dataset="r", spec=spec, parent_path=path, threads=1, out_path=tmp_path / "t.npz", log=lambda *a: None
    )
    x = arrays["test_images"][0] / np.float32(255)
    for shape in ([28, 28], []):  # an image parent, and one that is not
        plots.save_figure(
            plots.input_transform_figure(t, x, np.array(shape), "title"),
            tmp_path / "f.png",
            dpi=50,
            tight=False,
        )
        with Image.open(tmp_path / "f.png") as im:
            assert im.size == plots.pixel_size(plots.TRANSFORM_FIGSIZE, 50)


@pytest.mark.parametrize(
    "given, message",
    [
        ({"kind": "reduced", "method": "pca", "keep": 5}, "from: None must name another dataset"),
        ({"kind": "reduced", "from": "r", "method": "pca", "keep": 5}, "from: 'r' must name another"),
        (
            {"kind": "reduced", "from": "mnist", "method": "ica", "keep": 5},
            "method: 'ica'; allowed: pca, forest",
        ),
        ({"kind": "reduced", "from": "mnist", "method": "pca", "keep": 0}, "keep: 0 must be a whole number"),
        (
            {"kind": "reduced", "from": "mnist", "method": "pca", "keep": 5, "trees": 10},
            "trees is a setting of method forest",
        ),
        ({"kind": "reduced", "from": "mnist", "method": "pca", "keep": 5, "scale": "255"}, "no scale"),
        (
            {"kind": "reduced", "from": "mnist", "method": "pca", "keep": 5, "validation_fraction": 0.1},
            "keeps the split of mnist",
        ),
        ({"kind": "reduced", "from": "mnist", "method": "pca", "keep": 5, "path": "x"}, "takes no path"),
    ],
)
def test_a_bad_reduced_dataset_is_refused_naming_the_key(given, message):
    with pytest.raises(ValueError, match=f"datasets.r: .*{message}"):
        dataset_specs({"mnist": None, "r": given})


def test_a_reduced_dataset_of_a_reduced_one_is_refused_and_defaults_filled():
    specs = dataset_specs(
        {"mnist": None, "r": {"kind": "reduced", "from": "mnist", "method": "forest", "keep": 70}}
    )
    assert specs["r"] == {
        "kind": "reduced",
        "from": "mnist",
        "method": "forest",
        "keep": 70,
        "scale": "none",
        "trees": 100,
        "seed": 42,
    }
    with pytest.raises(ValueError, match="from: r is itself reduced"):
        dataset_specs({"mnist": None, "r": dict(PCA), "rr": {**PCA, "from": "r"}})
