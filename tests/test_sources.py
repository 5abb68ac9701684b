"""Datasets of one's own (.npz, IDX folder), two_cosines, the checks and the scaling."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest

from layermaps.data.sources import (
    DatasetError,
    fit_scaling,
    load_idx_folder,
    load_npz,
    two_cosines,
)


def good(**change):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.random((30, 4, 3)).astype(np.float32),
        "y_train": np.arange(30) % 3,
        "x_test": rng.random((9, 4, 3)).astype(np.float32),
        "y_test": np.arange(9) % 3,
        "class_names": np.array(["a", "b", "c"]),
    }
    arrays.update(change)
    return {k: v for k, v in arrays.items() if v is not None}


def write(tmp_path, arrays, name="d.npz"):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_npz_is_flattened_and_keeps_its_image_shape(tmp_path):
    data = load_npz(write(tmp_path, good()))
    assert data["train_images"].shape == (30, 12) and data["test_images"].shape == (9, 12)
    assert tuple(data["image_shape"]) == (4, 3) and list(data["class_names"]) == ["a", "b", "c"]
    assert data["train_labels"].dtype == np.int64
    flat = load_npz(
        write(tmp_path, good(x_train=np.ones((30, 2)), x_test=np.ones((9, 2)), class_names=None), "flat.npz")
    )
    assert flat["image_shape"].size == 0 and list(flat["class_names"]) == ["0", "1", "2"]


def test_npz_checksum(tmp_path):
    path = write(tmp_path, good())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_npz(path, sha256=digest.upper())["train_images"].shape == (30, 12)
    with pytest.raises(DatasetError, match=r"d\.npz: sha256 is [0-9a-f]{64}, but the config says 00"):
        load_npz(path, sha256="00" * 32)


BAD = [  # (what changes, the words the message must hold)
    ({"x_test": None}, r"array\(s\) x_test missing"),
    ({"y_train": np.arange(29) % 3}, r"x_train has 30 rows but y_train has 29 labels"),
    ({"x_train": np.full((30, 2), np.nan), "x_test": np.ones((9, 2))}, r"x_train holds 60 NaN or infinite"),
    ({"x_test": np.full((9, 12), np.inf)}, r"x_test holds 108 NaN or infinite"),
    ({"y_train": (np.arange(30) % 3).astype(float)}, r"y_train has dtype float64: labels must be integers"),
    ({"y_test": np.array([0, 1, 2, 0, 1, 2, 0, 1, -1])}, r"labels must be integers 0\.\.C-1, found -1"),
    ({"y_test": np.arange(9) % 2}, r"class\(es\) 2 of 0\.\.2 never occur in y_test"),
    ({"x_train": np.ones(30)}, r"x_train is 1-D with shape \(30,\)"),
    ({"image_shape": np.array([5, 5])}, r"image_shape \(5, 5\) holds 25 pixels but each row has 12"),
    ({"x_train": np.ones((0, 12)), "y_train": np.array([], int)}, r"x_train is empty"),
    ({"x_train": np.array([[1, "a"]] * 30, dtype=object)}, r"x_train is an object array"),
    ({"class_names": np.array(["a", "b", "c", "d"])}, r"class_names has 4 names but the labels have 3"),
    (
        {"y_train": np.eye(3, dtype=int)[np.arange(30) % 3]},
        r"y_train has shape \(30, 3\): labels must be 1-D",
    ),
    ({"x_test": np.ones((9, 5))}, r"x_train has 12 features per row but x_test has 5"),
    ({"x_train": np.array([["a", "b"]] * 30), "x_test": np.ones((9, 2))}, r"x_train has dtype <U1"),
    # class names reach legends, the explorer, summary.md and CSV tables: one short line each
    (
        {"class_names": np.array(["a", "b\nc", "c"])},
        r"class_names: name 1 'b\\nc' holds the control character U\+000A; give each class a plain",
    ),
    ({"class_names": np.array(["a", "\x1b[31mred", "c"])}, r"name 1 '\\x1b\[31mred' holds .* U\+001B"),
    ({"class_names": np.array(["a", "x" * 65, "c"])}, r"name 1 'x{40}\.\.\.' is 65 characters long"),
]


@pytest.mark.parametrize("change,message", BAD)
def test_bad_npz_is_refused_with_the_file_and_the_array(tmp_path, change, message):
    path = write(tmp_path, good(**change))
    with pytest.raises(DatasetError, match=message) as err:
        load_npz(path)
    assert str(path) in str(err.value)


def test_files_that_are_not_an_npz(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_npz(tmp_path / "nope.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DatasetError, match=r"text\.npz: not a readable \.npz file"):
        load_npz(tmp_path / "text.npz")
    np.save(tmp_path / "one.npy", np.ones(3))
    with pytest.raises(DatasetError, match="holds a single array"):
        load_npz(tmp_path / "one.npy")


def idx_bytes(array: np.ndarray) -> bytes:
    return (
        struct.pack(">HBB", 0, 0x08, array.ndim)
        + struct.pack(f">{array.ndim}I", *array.shape)
        + array.astype(np.uint8).tobytes()
    )


def test_idx_folder_plain_or_gzip(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 255, (20, 5, 5)),
        "train-labels-idx1-ubyte": np.arange(20) % 4,
        "t10k-images-idx3-ubyte": rng.integers(0, 255, (8, 5, 5)),
        "t10k-labels-idx1-ubyte": np.arange(8) % 4,
    }
    for i, (name, a) in enumerate(arrays.items()):
        data = idx_bytes(a)
        if i % 2:
            (tmp_path / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (tmp_path / name).write_bytes(data)
    data = load_idx_folder(tmp_path)
    assert data["train_images"].shape == (20, 25) and tuple(data["image_shape"]) == (5, 5)
    assert (data["test_labels"] == np.arange(8) % 4).all()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.arange(7) % 4)))
    with pytest.raises(DatasetError, match="x_test has 8 rows but y_test has 7 labels"):
        load_idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\(\.gz\) missing"):
        load_idx_folder(tmp_path)


def test_class_names_of_64_characters_and_markup_are_kept(tmp_path):
    names = ["x" * 64, '<img src=x onerror="alert(1)">', "$a$ & 'b', \u00e9"]
    data = load_npz(write(tmp_path, good(class_names=np.array(names))))
    assert list(data["class_names"]) == names  # escaped where they are shown, not refused


def test_an_idx_gzip_bomb_is_refused_reading_no_more_than_declared(tmp_path):
    from test_idx import gzip_bomb

    rng = np.random.default_rng(1)
    arrays = {
        "train-labels-idx1-ubyte": np.arange(20) % 4,
        "t10k-images-idx3-ubyte": rng.integers(0, 255, (8, 5, 5)),
        "t10k-labels-idx1-ubyte": np.arange(8) % 4,
    }
    for name, a in arrays.items():
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(a)))
    gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((20, 5, 5), np.uint8), 64)
    with pytest.raises(
        DatasetError,
        match=r"train-images-idx3-ubyte\.gz: holds more than the 500 "
        r"data bytes its header declares",
    ):
        load_idx_folder(tmp_path)


def test_two_cosines_lies_on_its_two_curves():
    data = two_cosines(n_per_class=100, seed=42)
    x, y = data["train_images"], data["train_labels"]
    assert x.shape == (200, 2) and np.bincount(y).tolist() == [100, 100]
    assert np.abs(x[:, 1] - np.cos(x[:, 0]) - y).max() < 1e-6
    assert (np.abs(x[:, 0]) <= np.pi).all() and data["image_shape"].size == 0
    again = two_cosines(n_per_class=100, seed=42)
    assert (again["train_images"] == x).all() and not (data["test_images"] == x).all()


def test_scaling_is_fitted_on_the_training_part():
    x = np.array([[0, 10], [2, 10], [4, 10]], np.float32)
    offset, factor = fit_scaling("standardize", x)
    assert np.allclose(offset, [2, 10]) and np.allclose(factor, [np.sqrt(8 / 3), 1])
    assert np.allclose(((x - offset) / factor).std(axis=0), [1, 0])
    assert np.allclose(fit_scaling("255", x)[1], 255) and np.allclose(fit_scaling("none", x)[1], 1)
    with pytest.raises(DatasetError, match="unknown scale 'minmax'"):
        fit_scaling("minmax", x)


def test_dataset_specs_fill_defaults_and_refuse_what_cannot_work():
    from layermaps.data.datasets import dataset_specs

    specs = dataset_specs(
        {"mnist": None, "two_cosines": {}, "mine": {"kind": "npz", "path": "m.npz", "scale": 255}}
    )
    assert specs["mnist"] == {"kind": "mnist", "scale": "255"}
    assert specs["two_cosines"] == {"kind": "two_cosines", "scale": "none", "n_per_class": 1000, "seed": 42}
    assert specs["mine"]["scale"] == "255"
    assert dataset_specs(["mnist", "fashion-mnist"])["fashion-mnist"]["kind"] == "fashion-mnist"
    for given, message in [
        ({"mine": {"path": "m.npz"}}, r"datasets\.mine: say which kind of dataset it is"),
        ({"mine": {"kind": "npz", "scale": "none"}}, r"kind npz needs path"),
        ({"mine": {"kind": "npz", "path": "m.npz"}}, r"datasets\.mine: say how to scale its inputs"),
        ({"mnist": {"path": "x"}}, r"kind mnist takes no path"),
        ({"letters": {"kind": "idx", "path": "l", "sha256": "0" * 64}}, r"sha256 checks a \.npz file"),
        (
            {"mine": {"kind": "npz", "path": "m.npz", "scale": "none", "seed": 1}},
            r"n_per_class and seed are settings of kind two_cosines",
        ),
    ]:
        with pytest.raises(ValueError, match=message):
            dataset_specs(given)


def test_prepare_fits_the_scaling_on_kept_training_rows(tmp_path):
    from layermaps.data.datasets import prepare, scaled

    raw = load_npz(
        write(tmp_path, good(x_train=np.arange(60.0).reshape(30, 2) + 100, x_test=np.full((9, 2), 1000.0)))
    )
    data = prepare(raw, scale="standardize", train_size=None, test_size=None, validation_fraction=0.2, seed=0)
    x = scaled(data["train_images"], data)
    assert np.allclose(x.mean(axis=0), 0, atol=1e-5) and np.allclose(x.std(axis=0), 1, atol=1e-5)
    assert scaled(data["test_images"], data).min() > 10  # test rows never enter the statistics
    assert str(data["scale"]) == "standardize" and data["image_shape"].size == 0
    assert sorted([*data["fit_idx"], *data["val_idx"]]) == list(range(30))


def test_builtin_scaling_is_the_old_division_by_255():
    from layermaps.data.datasets import scaled
    from layermaps.data.sources import fit_scaling

    images = np.arange(256, dtype=np.uint8).reshape(4, 64)
    offset, factor = fit_scaling("255", images)
    assert np.array_equal(
        scaled(images, {"scale_offset": offset, "scale_factor": factor}),
        images.astype(np.float32) / np.float32(255),
    )
