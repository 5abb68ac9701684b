"""Datasets beyond MNIST through the real snakemake CLI: a .npz of one's own (scaled with the
training part's statistics), the generated two_cosines and two reduced datasets of the .npz
(PCA, a forest's columns), every stage; a bad dataset refused by prepare before any training."""

import csv

import numpy as np
import pytest
import yaml
from conftest import snakemake, write_config
from mlflow.tracking import MlflowClient
from PIL import Image

from layermaps.figures import plots
from layermaps.measured import dry_run_jobs

pytestmark = pytest.mark.workflow


def configure(work, datasets):
    """The default config with these datasets, one small model and two reducers (replaced,
    not merged into the default's models, sweeps and reducers)."""
    # logreg has no hidden2: its layers are not embedded (a layer a model lacks is refused)
    write_config(
        work,
        embed={"layers": ["hidden2"], "models": ["tiny"]},
        knn={"k": [3, 5]},
        threads={"train": 1, "embed": 1},
    )
    config = yaml.safe_load((work / "config.yaml").read_text())
    config.update(
        datasets=datasets,
        sweeps={},
        models={
            "tiny": {"hidden": [8, 2], "epochs": 2, "batch_size": 32, "seed": 1},
            "logreg": {"hidden": [], "epochs": 2, "batch_size": 32, "seed": 1},
        },
        reducers={"pca": {}, "umap": {"n_epochs": 50, "n_neighbors": 10}},
    )
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def own_npz(path, n_train=300, n_test=90):
    """Three classes of 6 x 5 'images' of floats around 100, with a class signal."""
    rng = np.random.default_rng(0)

    def part(n):
        y = np.arange(n) % 3
        x = 100 + rng.normal(size=(n, 6, 5)) + 3 * y[:, None, None] * (np.arange(5) == y[:, None, None])
        return x.astype(np.float64), y

    (x, y), (xt, yt) = part(n_train), part(n_test)
    np.savez(path, x_train=x, y_train=y, x_test=xt, y_test=yt, class_names=np.array(["a", "b", "c"]))
    return path


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("own_datasets")
    own_npz(work / "mine.npz")
    configure(
        work,
        {
            "mine": {"kind": "npz", "path": "mine.npz", "scale": "standardize"},
            "two_cosines": {"n_per_class": 150, "validation_fraction": 0.2},
            "mine_pca": {"kind": "reduced", "from": "mine", "method": "pca", "keep": 4},
            "mine_rf": {"kind": "reduced", "from": "mine", "method": "forest", "keep": 5, "trees": 20},
        },
    )
    first = snakemake(work, "--cores", "2")
    return work, first


def test_a_dataset_sets_its_own_validation_fraction(own_run):
    work = own_run[0]
    for dataset, share in (("two_cosines", 0.2), ("mine", 1 / 6)):  # 1/6: data.validation_fraction
        with np.load(work / f"results/{dataset}/data.npz") as d:
            val, labels = d["val_idx"], d["train_labels"]
        assert len(val) == round(share * len(labels)), dataset
        assert np.bincount(labels[val]).min() > 0, dataset  # stratified: every class validates


def test_both_datasets_run_every_stage(own_run):
    work = own_run[0]
    with open(work / "results/knn_summary.csv") as f:
        rows = list(csv.DictReader(f))
    seen = {(r["dataset"], r["layer"], r["reducer"]) for r in rows}
    for dataset in ("mine", "two_cosines", "mine_pca", "mine_rf"):
        assert {
            (dataset, layer, reducer)
            for layer in ("raw", "hidden2")
            for reducer in ("pca", "umap", "unreduced")
        } <= seen
    mine = [
        float(r["accuracy"])
        for r in rows
        if r["dataset"] == "mine" and r["layer"] == "raw" and r["reducer"] == "unreduced"
    ]
    assert min(mine) > 0.6  # the class signal is in the inputs (chance: 1/3)
    assert "Nothing to be done" in snakemake(work, "--cores", "1", "-n").stdout


def test_scaling_is_recorded_and_applied(own_run):
    work = own_run[0]
    with np.load(work / "results/mine/data.npz") as d:
        assert str(d["scale"]) == "standardize" and tuple(d["image_shape"]) == (6, 5)
        x = d["train_images"].astype(np.float64)
        assert np.allclose(d["scale_offset"], x.mean(axis=0), atol=1e-4)
        raw = np.load(work / "results/mine/activations/raw_train.npy")
        assert raw.shape == (len(x), 30) and np.allclose(raw.mean(axis=0), 0, atol=1e-4)
    with np.load(work / "results/two_cosines/data.npz") as d:
        assert str(d["scale"]) == "none" and d["image_shape"].size == 0
        assert np.array_equal(
            np.load(work / "results/two_cosines/activations/raw_test.npy"), d["test_images"]
        )
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")
    for dataset, scale in (("mine", "standardize"), ("two_cosines", "none")):
        runs = client.search_runs([client.get_experiment_by_name(f"layermaps/{dataset}").experiment_id])
        assert runs and {r.data.tags.get("dataset.scale") for r in runs} == {scale}


def test_reduced_inputs_are_the_stored_transform_of_the_parent_rows(own_run):
    from layermaps.data.datasets import load_prepared, scaled
    from layermaps.data.transforms import InputTransform

    work = own_run[0]
    parent = load_prepared(work / "results/mine/data.npz")
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")
    for dataset, width, inputs in (("mine_pca", 4, "pca 4 of mine"), ("mine_rf", 5, "forest 5 of mine")):
        data = load_prepared(work / f"results/{dataset}/data.npz")
        transform = InputTransform.load(work / f"results/{dataset}/transform.npz")
        assert transform.n_fit == len(parent["train_labels"])
        assert data["test_images"].shape == (len(parent["test_labels"]), width)
        np.testing.assert_array_equal(
            data["test_images"], transform.apply(scaled(parent["test_images"], parent))
        )
        np.testing.assert_array_equal(data["val_idx"], parent["val_idx"])
        # recorded with the dataset's run and with every model's run of it
        runs = client.search_runs([client.get_experiment_by_name(f"layermaps/{dataset}").experiment_id])
        by_rule = {r.data.tags["layermaps.rule"]: r for r in runs}
        assert by_rule["prepare_reduced"].data.tags["dataset.inputs"] == inputs
        assert by_rule["prepare_reduced"].data.tags["dataset.transform"].startswith(inputs.split(" of")[0])
        assert by_rule["train"].data.tags["dataset.inputs"] == inputs
        artifacts = [a.path for a in client.list_artifacts(by_rule["prepare_reduced"].info.run_id)]
        assert "transform.npz" in artifacts and "figures" in artifacts
        assert (work / f"results/{dataset}/figures/input_transform.png").stat().st_size > 5_000
    rf = InputTransform.load(work / "results/mine_rf/transform.npz")
    assert all(c % 5 in (1, 2) for c in rf.columns.tolist())  # the class signal's columns


def test_image_figures_only_for_image_data(own_run):
    work = own_run[0]
    figures = work / "results/mine/figures/models/tiny"
    assert (figures / "activations_class5.gif").exists() is False  # class 5 of 3 classes
    assert not list((work / "results/two_cosines/figures/models/tiny").glob("*.gif"))
    summary = (work / "results/summary.md").read_text()
    assert "two_cosines: no activation GIFs (its inputs are not images)" in summary
    assert "mine: no activation GIFs (figures.class_index 5 is not one of its 3 classes)" in summary


def test_decision_regions_for_every_model_on_two_dimensional_data(own_run):
    work = own_run[0]
    for model in ("tiny", "logreg"):  # logreg: no hidden layer, so no layer figures or GIFs
        path = work / f"results/two_cosines/figures/models/{model}/decision_regions.png"
        with Image.open(path) as im:
            assert im.size == (800, 600)
            # the shaded regions and both curves: many colours, not a blank canvas
            assert len(im.convert("RGB").getcolors(1 << 20)) > 50
        assert not (work / f"results/mine/figures/models/{model}/decision_regions.png").exists()
    assert sorted(p.name for p in (work / "results/two_cosines/figures/models/logreg").iterdir()) == [
        "confusion.png",
        "decision_regions.png",
        "input_pair.png",
        "training_curves.png",
    ]
    with Image.open(work / "results/two_cosines/figures/models/logreg/input_pair.png") as im:
        assert im.size == plots.pixel_size(plots.input_pair_figsize(False), 100)  # not an image


def _absent_class(work):
    np.savez(
        work / "bad.npz",
        x_train=np.ones((40, 4)),
        y_train=np.arange(40) % 2,
        x_test=np.ones((10, 4)),
        y_test=np.zeros(10, int),
    )
    return {"kind": "npz", "path": "bad.npz", "scale": "none"}


def _class_names(names):
    def make(work):
        np.savez(
            work / "bad.npz",
            x_train=np.ones((40, 4)),
            y_train=np.arange(40) % 2,
            x_test=np.ones((10, 4)),
            y_test=np.arange(10) % 2,
            class_names=np.array(names),
        )
        return {"kind": "npz", "path": "bad.npz", "scale": "none"}

    return make


def _idx_bomb(work):
    """An IDX folder whose training images (.gz, 65 KB) declare 40 x 5 x 5 bytes and inflate to
    64 MiB more: prepare reads one chunk past the declared 1,000 bytes and stops."""
    import gzip

    from test_idx import gzip_bomb, idx_bytes

    (work / "bad").mkdir()
    gzip_bomb(work / "bad/train-images-idx3-ubyte.gz", np.zeros((40, 5, 5), np.uint8), 64)
    for name, a in (
        ("train-labels-idx1-ubyte", np.arange(40) % 2),
        ("t10k-images-idx3-ubyte", np.zeros((10, 5, 5))),
        ("t10k-labels-idx1-ubyte", np.arange(10) % 2),
    ):
        (work / f"bad/{name}.gz").write_bytes(gzip.compress(idx_bytes(a)))
    return {"kind": "idx", "path": "bad"}


@pytest.mark.parametrize(
    "make,words",
    [
        (_absent_class, "bad.npz: class(es) 1 of 0..1 never occur in y_test"),
        (
            _class_names(["a", "b\nc"]),
            "bad.npz: array class_names: name 1 'b\\nc' holds the control "
            "character U+000A; give each class a plain one-line name",
        ),
        (
            _class_names(["a", "b" * 65]),
            f"bad.npz: array class_names: name 1 '{'b' * 40}...' is 65 characters long",
        ),
        (
            _idx_bomb,
            "bad/train-images-idx3-ubyte.gz: holds more than the 1,000 data bytes its header "
            "declares (shape (40, 5, 5)): stopped reading",
        ),
    ],
    ids=["absent class", "newline in a class name", "long class name", "idx gzip bomb"],
)
def test_a_bad_dataset_is_refused_by_prepare_before_training(tmp_path, make, words):
    configure(tmp_path, {"bad": make(tmp_path)})
    proc = snakemake(tmp_path, "--cores", "1", check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert words in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results/bad/data.npz").exists()
    assert not (tmp_path / "results/bad/models").exists()


def test_a_dataset_declaring_more_than_the_limit_is_refused_at_start_up(tmp_path):
    """A 9 KB .npz whose header declares 1,000,000 x 1,000 float32 (4 GB; a compressed file of
    zeros declares the same in 4 MB, and numpy allocates what it declares) is refused while the
    DAG is built, naming the file and the size; data.max_dataset_gb raises the limit."""
    from test_config import _declaring, refusal

    _declaring(1_000_000, 1_000)(tmp_path / "huge.npz")
    configure(tmp_path, {"huge": {"kind": "npz", "path": "huge.npz", "scale": "none"}})
    line = refusal(snakemake(tmp_path, "-n", check=False, timeout=120))
    assert line == (
        "layermaps: invalid config: datasets.huge.path = huge.npz: its arrays declare "
        "4.0 GB (largest: x_train of huge.npz: 1,000,000 x 1,000 float32 (4.0 GB)), "
        "more than data.max_dataset_gb = 2; prepare would need about 8 GB of memory. "
        "Give a smaller file, or raise data.max_dataset_gb if the machine that runs "
        "prepare has that memory."
    )
    assert not (tmp_path / "results").exists()
    jobs = dry_run_jobs(
        snakemake(tmp_path, "-n", "results/huge/data.npz", "--config", 'data={"max_dataset_gb":5}').stdout
    )
    assert [(rule, res(fields)["mem_mb"]) for rule, fields in jobs] == [("prepare", "12500")]


def res(fields):
    return dict(p.split("=", 1) for p in fields.get("resources", "").split(", ") if "=" in p)


def test_prepare_asks_for_memory_that_follows_the_declared_size(tmp_path):
    """mem_mb of prepare = 1.5 x (300 MB + 2 x the declared bytes, + 16 bytes per training
    input with scale standardize), at least resources.yaml's 1,000, rounded up to 500 MB."""
    from test_config import _declaring

    _declaring(1_000_000, 1_000, "|u1")(tmp_path / "bytes.npz")  # the issue's 1 GB of uint8
    _declaring(100_000, 1_000)(tmp_path / "floats.npz")
    _declaring(100, 10)(tmp_path / "tiny.npz")
    configure(
        tmp_path,
        {
            "mnist": {},
            "bytes": {"kind": "npz", "path": "bytes.npz", "scale": "255"},
            "floats": {"kind": "npz", "path": "floats.npz", "scale": "standardize"},
            "tiny": {"kind": "npz", "path": "tiny.npz", "scale": "none"},
        },
    )
    jobs = dry_run_jobs(
        snakemake(
            tmp_path, "-n", *(f"results/{d}/data.npz" for d in ("mnist", "bytes", "floats", "tiny"))
        ).stdout
    )
    asked = {fields["wildcards"]: int(res(fields)["mem_mb"]) for rule, fields in jobs if rule == "prepare"}
    # mnist: 54,950,000 bytes -> 1.5 x 409.9 = 615 -> 1,000 (the floor)
    # bytes: 1e9 + 8e6 + 1e6 + 8e3 = 1,009,008,000 -> 1.5 x (300 + 2,018.0) = 3,477 -> 3,500
    # floats: 4e8 + 8e5 + 4e6 + 8e3 = 404,808,000 -> 1.5 x (300 + 809.6 + 16 x 1e8 / 1e6) = 4,064
    #   -> 4,500
    assert asked == {
        "dataset=mnist": 1000,
        "dataset=bytes": 3500,
        "dataset=floats": 4500,
        "dataset=tiny": 1000,
    }
