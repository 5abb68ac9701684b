"""plots, the figure jobs, planning and summary tables on small synthetic arrays (no Snakemake, no MLflow)."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest
from PIL import Image

from layermaps.config import ConfigError
from layermaps.embed.records import Score
from layermaps.figures import plots
from layermaps.figures.stage import (
    comparison_job,
    heatmap_job,
    pair_columns,
    read_confusion,
    read_history,
    training_figures_job,
)
from layermaps.figures.summary import (
    SEED_REFERENCE,
    assignment_section,
    report_section,
    seed_knn,
    seed_model,
    seed_sweep,
    widths,
    write_summary,
)
from layermaps.planning import choose_k, figure_models, gif_datasets, sweep_plan, varied_layer

NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
DPI = 40


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def saved_size(fig, path, dpi=DPI):
    plots.save_figure(fig, path, dpi=dpi, tight=False)
    with Image.open(path) as im:
        im.load()
        return im.size


# ----------------------------------------------------------------------------- basics
def test_pixel_size_matches_matplotlib(tmp_path):
    for figsize, dpi in [((13.0, 6.0), 100), ((7.25, 3.5), 33), ((2.0 + 3.5 * 3, 1.0 + 3.5 * 2), 72)]:
        fig = matplotlib.pyplot.figure(figsize=figsize)
        assert saved_size(fig, tmp_path / "f.png", dpi) == plots.pixel_size(figsize, dpi)


def test_existing_figures_keep_working(tmp_path):
    history = {"loss": [1.0, 0.5], "accuracy": [0.5, 0.8], "val_loss": [1.1, 0.6], "val_accuracy": [0.4, 0.7]}
    plots.save_figure(plots.training_curves(history, "t"), tmp_path / "a.png")  # tight, as before
    assert (tmp_path / "a.png").stat().st_size > 1000
    fig = plots.training_curves(history, "t", layout="constrained")
    assert saved_size(fig, tmp_path / "b.png") == plots.pixel_size(plots.TRAINING_FIGSIZE, DPI)
    counts = np.diag(np.full(10, 5))
    counts[6, 0] = 3
    fig = plots.confusion_heatmaps([(counts, "train"), (counts.T, "test")], NAMES, "c", layout="constrained")
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == NAMES
    assert [ax.get_title() for ax in fig.axes[:2]] == ["train", "test"]
    assert saved_size(fig, tmp_path / "c.png") == plots.pixel_size(plots.confusion_figsize(2), DPI)


def test_pair_columns_auto_and_chosen(rng):
    x = rng.normal(size=(500, 6)) * [1, 5, 4, 1, 3, 1]
    x[:, 2] = x[:, 1] * 0.8 + rng.normal(size=500) * 0.1  # second-largest variance, but moves with 1
    assert pair_columns(x, "auto") == [1, 4]  # largest variance, then the largest uncorrelated
    assert pair_columns(x[:, [1, 2]], "auto") == [0, 1]  # nothing uncorrelated: the next largest
    assert pair_columns(x, [5, 0]) == [5, 0]
    for bad in ([0, 6], [2, 2], [1]):
        with pytest.raises(ValueError, match="figures.input_pair must be"):
            pair_columns(x, bad)
    with pytest.raises(ValueError, match="needs two input columns"):
        pair_columns(x[:, :1], "auto")


def test_training_figures_job_confusions_and_input_pair(tmp_path, rng, monkeypatch):
    # a 4 x 4 "image" dataset with 3 classes; predictions chosen so the counts are known
    names = ["a", "b", "c"]
    y_train, y_test = np.repeat([0, 1, 2], 20), np.repeat([0, 1, 2], 5)
    data = {
        "train_images": rng.integers(0, 256, (60, 16)).astype(np.uint8),
        "test_images": rng.integers(0, 256, (15, 16)).astype(np.uint8),
        "train_labels": y_train,
        "test_labels": y_test,
        "class_names": np.array(names),
        "image_shape": np.array([4, 4]),
        "scale_offset": np.zeros(16, np.float32),
        "scale_factor": np.full(16, 255, np.float32),
    }
    np.savez(tmp_path / "data.npz", **data)
    wrong = y_train.copy()
    wrong[:3] = 2  # three training rows of class a predicted c
    np.save(tmp_path / "out_train.npy", np.eye(3)[wrong])
    np.save(tmp_path / "out_test.npy", np.eye(3)[y_test])
    (tmp_path / "history.csv").write_text("epoch,loss,accuracy\n0,1.0,0.5\n1,0.5,0.8\n")
    (tmp_path / "metrics.json").write_text(json.dumps({"test_accuracy": 1.0, "epochs_run": 2}))
    np.savetxt(
        tmp_path / "c.csv", np.diag([5, 5, 5]), delimiter=",", fmt="%d", header=",".join(names), comments=""
    )
    logged = []
    out = {k: tmp_path / f"{k}.png" for k in ("curves", "confusion", "pair")}
    kw = dict(
        dataset="d",
        model="m",
        history_path=tmp_path / "history.csv",
        confusion_path=tmp_path / "c.csv",
        metrics_path=tmp_path / "metrics.json",
        data_path=tmp_path / "data.npz",
        train_outputs_path=tmp_path / "out_train.npy",
        test_outputs_path=tmp_path / "out_test.npy",
        input_pair=[0, 15],
        out_curves=out["curves"],
        out_confusion=out["confusion"],
        out_input_pair=out["pair"],
        dpi=DPI,
        cmap="tab10",
        point_size=2.0,
        log=logged.append,
    )
    figs, real = [], plots.confusion_heatmaps  # a spy: the real figure is drawn and saved
    monkeypatch.setattr(
        plots, "confusion_heatmaps", lambda panels, *a, **k: figs.append(panels) or real(panels, *a, **k)
    )
    training_figures_job(**kw)
    (train_counts, train_title), (test_counts, test_title) = figs[0]
    assert train_counts[0].tolist() == [17, 0, 3] and train_counts.trace() == 57
    assert train_title == "training rows (60, validation included): accuracy 0.9500"
    assert test_counts.tolist() == np.diag([5, 5, 5]).tolist() and test_title.startswith("test rows (15)")
    assert "(columns [0, 15])" in logged[-1]
    assert all(p.stat().st_size > 1000 for p in out.values())
    with Image.open(out["pair"]) as im:  # an image dataset: three panels
        assert im.size == plots.pixel_size(plots.input_pair_figsize(True), DPI)
    np.save(tmp_path / "out_train.npy", np.eye(3)[wrong][:59])
    with pytest.raises(ValueError, match="train outputs have 59 rows"):
        training_figures_job(**kw)


# Names a dataset or config may hold (issue 29, item 4): a `$` pair or a lone `$...$` that
# matplotlib would read as math text (`$x_$` fails to parse), a comma and quotes for the CSV.
ODD_NAMES = ["cost $x_$", "it's $5 & $x^2$", 'a, "b"']


def test_figures_draw_class_names_as_written_and_the_confusion_csv_keeps_them(tmp_path, rng, monkeypatch):
    from layermaps.models.stage import write_confusion

    data = {
        "train_images": rng.integers(0, 256, (60, 16)).astype(np.uint8),
        "test_images": rng.integers(0, 256, (15, 16)).astype(np.uint8),
        "train_labels": np.repeat([0, 1, 2], 20),
        "test_labels": np.repeat([0, 1, 2], 5),
        "class_names": np.array(ODD_NAMES),
        "image_shape": np.array([4, 4]),
        "scale_offset": np.zeros(16, np.float32),
        "scale_factor": np.full(16, 255, np.float32),
    }
    np.savez(tmp_path / "data.npz", **data)
    np.save(tmp_path / "out_train.npy", np.eye(3)[data["train_labels"]])
    np.save(tmp_path / "out_test.npy", np.eye(3)[data["test_labels"]])
    (tmp_path / "history.csv").write_text("epoch,loss,accuracy\n0,1.0,0.5\n1,0.5,0.8\n")
    (tmp_path / "metrics.json").write_text(json.dumps({"test_accuracy": 1.0, "epochs_run": 2}))
    counts = np.array([[5, 0, 0], [1, 4, 0], [0, 2, 3]])
    write_confusion(tmp_path / "confusion_test.csv", counts, ODD_NAMES)
    got, names = read_confusion(tmp_path / "confusion_test.csv")
    assert names == ODD_NAMES and got.tolist() == counts.tolist()
    figs = []
    for name in ("confusion_heatmaps", "input_pair_figure"):  # spies: the real figures, kept
        real = getattr(plots, name)
        monkeypatch.setattr(plots, name, lambda *a, _real=real, **k: figs.append(_real(*a, **k)) or figs[-1])
    out = {k: tmp_path / f"{k}.png" for k in ("curves", "confusion", "pair")}
    training_figures_job(
        dataset="d",
        model="m",
        history_path=tmp_path / "history.csv",
        confusion_path=tmp_path / "confusion_test.csv",
        metrics_path=tmp_path / "metrics.json",
        data_path=tmp_path / "data.npz",
        train_outputs_path=tmp_path / "out_train.npy",
        test_outputs_path=tmp_path / "out_test.npy",
        input_pair=[0, 15],
        out_curves=out["curves"],
        out_confusion=out["confusion"],
        out_input_pair=out["pair"],
        dpi=DPI,
        cmap="tab10",
        point_size=2.0,
        log=lambda _: None,
    )
    assert all(p.stat().st_size > 1000 for p in out.values())
    confusion, pair = figs
    ticks = confusion.axes[1].get_xticklabels()
    assert [t.get_text() for t in ticks] == ODD_NAMES and not any(t.get_parse_math() for t in ticks)
    legend = pair.legends[0].get_texts()
    assert [t.get_text() for t in legend] == ODD_NAMES
    assert not any(t.get_parse_math() for t in legend)
    fig = plots.embedding_figure(
        rng.normal(size=(30, 2)),
        np.arange(30) % 3,
        rng.normal(size=(9, 2)),
        np.arange(9) % 3,
        ODD_NAMES,
        "d | pca",
    )
    assert saved_size(fig, tmp_path / "e.png") == plots.pixel_size(plots.EMBEDDING_FIGSIZE, DPI)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ODD_NAMES


def test_class_colors_distinct():
    c = plots.class_colors(10, "tab10")
    assert c.shape == (10, 4) and len({tuple(x) for x in c}) == 10


# ----------------------------------------------------------------------------- embeddings
def test_embedding_figure_shares_limits_and_names_classes(tmp_path, rng):
    train, test = rng.normal(size=(3000, 2)), rng.normal(5, 1, size=(500, 2))
    fig = plots.embedding_figure(
        train,
        rng.integers(0, 10, 3000),
        test,
        rng.integers(0, 10, 500),
        NAMES,
        "fashion-mnist | raw pixels | pca",
        point_size=1,
    )
    a, b = fig.axes[:2]
    assert a.get_xlim() == b.get_xlim() and a.get_ylim() == b.get_ylim()
    lo, hi = a.get_xlim()
    assert lo <= min(train[:, 0].min(), test[:, 0].min()) and hi >= max(train[:, 0].max(), test[:, 0].max())
    assert all(c.get_rasterized() for c in a.collections)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == NAMES
    assert "pca" in fig.get_suptitle()
    assert saved_size(fig, tmp_path / "e.png") == plots.pixel_size(plots.EMBEDDING_FIGSIZE, DPI)


def test_grid_figure(tmp_path, rng):
    panel = {"xy": rng.normal(size=(100, 2)), "labels": rng.integers(0, 10, 100), "title": "pca: kNN@5 = 0.5"}
    fig = plots.grid_figure(
        [[panel, panel], [panel, None], [panel, panel]],
        ["raw pixels", "hidden1", "hidden2"],
        ["pca", "umap"],
        NAMES,
        "grid",
    )
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title() == "pca: kNN@5 = 0.5" and fig.axes[0].get_ylabel() == "raw pixels"
    assert saved_size(fig, tmp_path / "g.png") == plots.pixel_size(plots.grid_figsize(3, 2), DPI)


# ----------------------------------------------------------------------------- scores
def test_knn_heatmap_blank_cells(tmp_path):
    values = np.array([[0.5, 0.9, np.nan], [0.7, 0.8, 0.95]])
    fig = plots.knn_heatmap(values, ["raw", "m/hidden1"], ["pca", "umap", "unreduced"], "h")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0.500", "0.900", "0.700", "0.800", "0.950"]
    assert saved_size(fig, tmp_path / "h.png") == plots.pixel_size(plots.heatmap_figsize(2, 3), DPI)


def test_comparison_bars(tmp_path):
    panels = {
        "pca": {"mnist": [0.5, 0.9], "fashion-mnist": [0.4, np.nan]},
        "umap": {"mnist": [0.95, 0.97], "fashion-mnist": [0.75, 0.85]},
    }
    fig = plots.comparison_bars(["raw", "seed_mlp/hidden2"], panels, ["mnist", "fashion-mnist"], "c")
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "pca"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["mnist", "fashion-mnist"]
    assert len(fig.axes[1].patches) == 4
    assert saved_size(fig, tmp_path / "c.png") == plots.pixel_size(plots.comparison_figsize(2, 2), DPI)


def test_sweep_figure_axes(tmp_path):
    acc = {"train": [0.5, 0.9, 0.99], "val": [0.5, 0.88, 0.97], "test": [0.5, 0.87, 0.97]}
    fig = plots.sweep_figure(
        [1, 16, 512],
        "hidden[1]",
        acc,
        {"pca": [0.3, 0.5, 0.6], "unreduced": [0.5, 0.9, 0.95]},
        "s",
        knn_label="kNN",
    )
    assert fig.axes[0].get_xscale() == "log" and fig.axes[1].get_xscale() == "log"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "16", "512"]
    assert [line.get_label() for line in fig.axes[1].lines] == ["pca", "unreduced"]
    assert saved_size(fig, tmp_path / "s.png") == plots.pixel_size(plots.SWEEP_FIGSIZE, DPI)
    fig = plots.sweep_figure(
        ["adam", "sgd"], "optimizer.name", {"test": [0.9, 0.8]}, {}, "s", knn_label="kNN"
    )
    assert fig.axes[0].get_xscale() == "linear"
    assert (
        plots.sweep_figure([2, 4, 6], "x", {"test": [1, 1, 1]}, {}, "s", knn_label="k").axes[0].get_xscale()
        == "linear"
    )


# ----------------------------------------------------------------------------- hidden layers
def test_pca_ratios_and_degenerate_inputs(rng):
    x = rng.normal(size=(300, 5)) * np.array([10, 3, 1, 0.1, 0.01])
    coords, ratios = plots.pca(x, 3)
    assert coords.shape == (300, 3) and np.all(np.diff(ratios) <= 0) and 0.99 < ratios.sum() <= 1
    assert np.allclose(coords.std(axis=0) ** 2 / (x.var(axis=0).sum()), ratios, rtol=1e-6)
    coords, ratios = plots.pca(rng.normal(size=(50, 1)), 3)  # a 1-unit layer
    assert ratios.tolist() == [1.0, 0.0, 0.0] and np.all(coords[:, 1:] == 0)
    coords, ratios = plots.pca(np.zeros((50, 4)), 3)  # a dead layer
    assert np.all(ratios == 0) and np.all(coords == 0)


def test_pca_figure_labels(tmp_path, rng):
    fig = plots.pca_figure(rng.normal(size=(200, 8)), rng.integers(0, 10, 200), NAMES, "p")
    ax2, ax3 = fig.axes[:2]
    assert ax2.get_xlabel().startswith("PC1 (") and "% of variance" in ax2.get_ylabel()
    assert ax3.name == "3d" and ax3.get_zlabel().startswith("PC3 (")
    assert saved_size(fig, tmp_path / "p.png") == plots.pixel_size(plots.PCA_FIGSIZE, DPI)


def test_unit_boxplots(tmp_path, rng):
    acts = rng.random((300, 8))
    pred = rng.integers(0, 9, 300)  # class 9 never predicted: an empty group
    fig = plots.unit_boxplots(acts, pred, NAMES, "b", n_units=4)
    visible = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in visible] == ["unit 1", "unit 2", "unit 3", "unit 4"]
    assert visible[0].get_xticklabels()[-1].get_text() == "Ankle boot (0)"
    assert saved_size(fig, tmp_path / "b.png") == plots.pixel_size(plots.boxplots_figsize(4), DPI)
    fig = plots.unit_boxplots(acts[:, :1], pred, NAMES, "b", n_units=6)  # fewer units than asked
    assert len([ax for ax in fig.axes if ax.axison]) == 1


# ----------------------------------------------------------------------------- animations
def test_gifs_frames_and_size(tmp_path, rng):
    images = rng.integers(0, 256, (7, 784)).astype(np.uint8)
    layers = {"hidden1": rng.random((7, 32)), "hidden2": rng.random((7, 1))}
    frames = plots.activation_frames(images, layers, [f"image {i}" for i in range(7)], "a", dpi=DPI)
    w, h = plots.pixel_size(plots.activation_gif_figsize(2), DPI)
    assert len(frames) == 7 and frames[0].shape == (h, w, 3)
    plots.save_gif(frames, tmp_path / "a.gif", fps=4)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.size == (w, h) and im.n_frames == 7 and im.info["duration"] == 250
    rm = plots.running_mean_frames(images, layers, "r", dpi=DPI)
    assert len(rm) == 7
    plots.save_gif(rm, tmp_path / "r.gif")
    with Image.open(tmp_path / "r.gif") as im:
        assert im.n_frames == 7
    with pytest.raises(ValueError, match="no frames"):
        plots.save_gif([], tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()


# ----------------------------------------------------------------------------- stage helpers
def test_choose_k():
    assert choose_k([3, 5, 10], 5) == (5, "")
    k, note = choose_k([10, 3, 7], 5)
    assert k == 7 and "middle k=7" in note and "k=5" in note
    assert choose_k([4], 5)[0] == 4


def test_varied_layer_and_sweep_plan():
    spec = {"hidden": [128, 64, 32]}
    assert varied_layer("hidden[1]", spec) == "hidden2"
    assert varied_layer("hidden[0]", spec) == "hidden1"
    assert varied_layer("optimizer.learning_rate", spec) == "hidden3"
    plan = sweep_plan(
        "msds", {"base": {"hidden": [128, 128]}, "vary": {"hidden[1]": [1, 512]}, "name": "msds_w{value}"}
    )
    assert plan == {
        "key": "hidden[1]",
        "members": [
            {"value": 1, "model": "msds_w1", "layer": "hidden2", "repeats": ["msds_w1"]},
            {"value": 512, "model": "msds_w512", "layer": "hidden2", "repeats": ["msds_w512"]},
        ],
    }
    plan = sweep_plan("lr", {"base": {"hidden": [8]}, "vary": {"optimizer.learning_rate": [0.1, 0.01]}})
    assert [m["layer"] for m in plan["members"]] == ["hidden1", "hidden1"]


def test_figure_models():
    models = {"a": {}, "b": {}}
    assert figure_models("all", models) == ["a", "b"] and figure_models(["b"], models) == ["b"]
    with pytest.raises(ConfigError, match="figures.models.*nope"):
        figure_models(["nope"], models)


def test_curves_by_model_one_colour_per_model(tmp_path):
    histories = {
        m: {
            "loss": [1.0, 0.5, 0.3],
            "val_loss": [1.1, 0.7, 0.9],
            "accuracy": [0.5, 0.8, 0.9],
            "val_accuracy": [0.5, 0.7, 0.6],
        }
        for m in ("a", "b", "c")
    }
    histories["c"] = {k: v[:2] for k, v in histories["c"].items() if not k.startswith("val")}
    fig = plots.curves_by_model(histories, "t")
    loss_ax = fig.axes[0]
    assert len(loss_ax.lines) == 2 + 2 + 1  # train and validation, c without validation
    assert len({tuple(l.get_color()) for l in loss_ax.lines}) == 3
    assert [l.get_linestyle() for l in loss_ax.lines[:2]] == ["-", "--"]
    plots.save_figure(fig, tmp_path / "c.png", DPI, tight=False)
    with Image.open(tmp_path / "c.png") as im:
        assert im.size == plots.pixel_size(plots.CURVES_FIGSIZE, DPI)


def test_gif_datasets_say_why_they_skip():
    from layermaps.data.datasets import DatasetInfo

    keep, notes = gif_datasets(
        {
            "mnist": DatasetInfo(True, 10, 784),
            "plane": DatasetInfo(False, 2, 2),
            "three": DatasetInfo(True, 3, 30),
            "idx": DatasetInfo(True, None, None),
        },
        5,
    )
    assert keep == ["mnist", "idx"]
    assert notes == [
        "plane: no activation GIFs (its inputs are not images)",
        "three: no activation GIFs (figures.class_index 5 is not one of its 3 classes)",
    ]


def test_decision_regions_figure_and_bounds(tmp_path):
    from layermaps.figures.stage import plane_bounds

    assert plane_bounds(np.array([[0.0, -1.0], [10.0, 1.0]])) == ((-0.5, 10.5), (-1.1, 1.1))
    x1, x2 = np.linspace(-np.pi, np.pi, 50), np.linspace(-1, 2, 40)
    predicted = (x2[:, None] > np.cos(x1)[None, :] + 0.5).astype(int)
    fig = plots.decision_regions(
        x1,
        x2,
        predicted,
        ["cos", "1 + cos"],
        "t",
        points=(np.array([[0.0, 1.0], [1.0, 1.5]]), np.array([0, 1])),
        curves=[(x1, np.cos(x1), "cos"), (x1, 1 + np.cos(x1), "1 + cos")],
    )
    ax = fig.axes[0]
    assert ax.get_xlim() == (-np.pi, np.pi) and ax.get_ylim() == (-1, 2) and len(ax.lines) == 2
    plots.save_figure(fig, tmp_path / "regions.png")
    assert (tmp_path / "regions.png").stat().st_size > 10_000


def test_readers(tmp_path):
    (tmp_path / "h.csv").write_text("epoch,loss,accuracy\n1,0.5,0.8\n2,0.25,0.9\n")
    assert read_history(tmp_path / "h.csv") == {"loss": [0.5, 0.25], "accuracy": [0.8, 0.9]}
    cm = np.arange(100).reshape(10, 10)
    np.savetxt(tmp_path / "c.csv", cm, fmt="%d", delimiter=",", header=",".join(NAMES), comments="")
    counts, names = read_confusion(tmp_path / "c.csv")
    assert names == NAMES and (counts == cm).all()


def score_json(path, dataset, source, reducer, accs=None):
    accs = accs or {3: 0.9, 5: 0.91, 10: 0.92}
    model, _, layer = source.partition("/")
    Score(
        dataset=dataset,
        source=source,
        model=model if layer else "raw",
        layer=layer or "raw",
        reducer=reducer,
        protocol="inductive",
        policy="fit",
        trustworthiness=0.8,
        fit_seconds=1.0,
        transform_seconds=0.5,
        knn={f"k{k}": {"k": k, "accuracy": a, "per_class": {}} for k, a in accs.items()},
    ).save(path)
    return path


def test_heatmap_and_comparison_jobs_on_score_files(tmp_path):
    paths = {
        d: [
            score_json(tmp_path / d / f"{s.replace('/', '_')}_{r}.json", d, s, r)
            for s in ("raw", "m/hidden1")
            for r in ("pca", "umap", "unreduced")
        ]
        for d in ("mnist", "fashion-mnist")
    }
    heatmap_job(
        dataset="mnist",
        score_paths=paths["mnist"],
        sources=["raw", "m/hidden1"],
        reducers=["pca", "umap"],
        k=5,
        k_note="",
        out_path=tmp_path / "h.png",
        dpi=DPI,
    )
    with Image.open(tmp_path / "h.png") as im:
        assert im.size == plots.pixel_size(plots.heatmap_figsize(2, 3), DPI)
    comparison_job(
        datasets=["mnist", "fashion-mnist"],
        score_paths=paths,
        sources=["raw", "m/hidden1"],
        reducers=["pca", "umap"],
        k=5,
        k_note="",
        out_path=tmp_path / "c.png",
        dpi=DPI,
    )
    with Image.open(tmp_path / "c.png") as im:
        assert im.size == plots.pixel_size(plots.comparison_figsize(2, 3), DPI)


# ----------------------------------------------------------------------------- summary.md
def test_summary_tables_and_seed_references(tmp_path):
    scores = [
        score_json(tmp_path / f"s{i}.json", "fashion-mnist", s, r)
        for i, (s, r) in enumerate(
            [
                ("raw", "umap"),
                ("seed_mlp/hidden2", "umap"),
                ("seed_mlp/hidden2", "pca"),
                ("msds_w1/hidden2", "pca"),
                ("msds_w1/hidden2", "unreduced"),
            ]
        )
    ]
    metrics = []
    for d, m in [("fashion-mnist", "seed_mlp"), ("fashion-mnist", "msds_w1")]:
        p = tmp_path / d / "models" / m / "metrics.json"
        p.parent.mkdir(parents=True)
        p.write_text(
            json.dumps(
                {
                    "test_accuracy": 0.85,
                    "val_accuracy": 0.86,
                    "train_accuracy": 0.9,
                    "epochs_run": 20,
                    "train_seconds": 12.5,
                }
            )
        )
        metrics.append(p)
    plan = {"key": "hidden[1]", "members": [{"value": 1, "model": "msds_w1", "layer": "hidden2"}]}
    studies = [
        {
            "name": "a",
            "description": "the seed",
            "datasets": {
                "fashion-mnist": {
                    "models": ["seed_mlp"],
                    "sources": {"raw": ["umap"], "seed_mlp/hidden2": ["pca", "umap"]},
                    "sweeps": [],
                }
            },
        },
        {
            "name": "b",
            "description": "",
            "datasets": {
                "fashion-mnist": {
                    "models": ["msds_w1"],
                    "sources": {"msds_w1/hidden2": ["pca"]},
                    "sweeps": ["msds"],
                }
            },
        },
    ]
    text = write_summary(
        tmp_path / "summary.md",
        studies=studies,
        score_paths=scores,
        metrics_paths=metrics,
        hidden={"seed_mlp": [256, 64], "msds_w1": [128, 1]},
        sweeps={"msds": plan},
        ks=[3, 5, 10],
        k_sweep=5,
    )
    assert (tmp_path / "summary.md").read_text() == text
    # one section per study, each with only its own models and maps
    first, second = text.split("## Study `a`: the seed")[1].split("## Study `b`")
    assert "msds_w1" not in first and "seed_mlp" not in second
    assert "| raw | pca |" not in text  # raw is embedded with UMAP only
    assert (
        "| raw | umap | 0.9000 | 0.9100 | 0.9200 | 0.8000 | 0.7415 / 0.7596 / 0.7721: **outside** "
        "±0.01 (+0.1585) |"
    ) in text
    assert (
        "| seed_mlp/hidden2 | pca | 0.9000 | 0.9100 | 0.9200 | 0.8000 | 0.8696 / 0.8726 / 0.8770: "
        "**outside** ±0.01 (+0.0430) |"
    ) in text
    assert (
        "| seed_mlp | 256-64 | 20 | 0.9000 | 0.8600 | 0.8500 | 12.5 | "
        "test 0.876: **outside** ±0.01 (-0.0260) |" in text
    )
    assert "| msds_w1/hidden2 | unreduced | 0.9000 | 0.9100 | 0.9200 | - |" in text
    # the PCA seed's note follows the table with its hidden-layer row, in study a only
    pca_note = SEED_REFERENCE["knn_notes"][("fashion-mnist", "pca")]
    assert text.count(pca_note) == 1 and pca_note in first
    # the sweep reference is MNIST's: no seed numbers on Fashion
    assert "| 1 | msds_w1 | 20 | 0.9000 | 0.8600 | 0.8500 | 0.9100 | 0.9100 |  |" in text
    assert (widths([256, 64]), widths([128] * 10), widths([])) == ("256-64", "10 x 128", "none")
    assert seed_model("mnist", "ws_10x128") == "test 0.9786 (the workshop: a growing train/validation gap)"
    assert seed_model("two_cosines", "ws_logreg", {"test_accuracy": 0.5}).startswith("the workshop: a linear")
    assert seed_knn("mnist", "seed_mlp/hidden1", "umap", [5]) == "0.9714"
    assert seed_knn("mnist", "other/hidden1", "umap", [3, 5, 10]) == ""
    near = Score(
        **{
            **Score.load(scores[0]).to_dict(),
            "dataset": "mnist",
            "source": "seed_mlp/hidden1",
            "knn": {"k3": {"k": 3, "accuracy": 0.9797}, "k5": {"k": 5, "accuracy": 0.9614}},
        }
    )
    assert seed_knn("mnist", "seed_mlp/hidden1", "umap", [3, 5], near) == "0.9697 / 0.9714: within ±0.01"
    assert (
        seed_knn("mnist", "seed_mlp/hidden1", "umap", [3, 5, 10], near)
        == "0.9697 / 0.9714 / 0.9713: within ±0.01"
    )  # k=10 not scored: compared where both exist
    assert (
        seed_model("mnist", "seed_mlp", {"val_accuracy": 0.9649}) == "val 0.975: **outside** ±0.01 (-0.0101)"
    )
    assert seed_sweep("mnist", "msds", 2, {"test_accuracy": 0.9}).endswith(
        "not compared (the report's runs differ)"
    )
    assert seed_sweep(
        "mnist", "msds", 5, {"train_accuracy": 0.99, "val_accuracy": 0.97, "test_accuracy": 0.97}
    ).endswith(": within ±0.01")
    assert SEED_REFERENCE["sweep"]["rows"][512][2] == 0.979


def test_summary_md_shows_the_strings_of_a_config_as_written(tmp_path):
    """A study's description and a sweep's values come from the config: a newline, a `|`, a
    <script> or Markdown's own marks in them neither break a heading or table nor run."""
    from markdown_it import MarkdownIt

    description = "two lines\n## not a heading | <script>alert(1)</script> *not bold* `x` _y_"
    scores = [score_json(tmp_path / "s.json", "mnist", "m_1/hidden1", "pca")]
    metrics = tmp_path / "mnist" / "models" / "m_1" / "metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"test_accuracy": 0.5, "epochs_run": 2}))
    plan = {"key": "activation", "members": [{"value": "a|b <i>", "model": "m_1", "layer": "hidden1"}]}
    studies = [
        {
            "name": "s",
            "description": description,
            "datasets": {"mnist": {"models": ["m_1"], "sources": {"m_1/hidden1": ["pca"]}, "sweeps": ["w"]}},
        }
    ]
    text = write_summary(
        tmp_path / "summary.md",
        studies=studies,
        score_paths=scores,
        metrics_paths=[metrics],
        hidden={"m_1": [4]},
        sweeps={"w": plan},
        ks=[3, 5],
        k_sweep=5,
        notes=["mnist: <b>note</b>"],
    )
    title = next(line for line in text.splitlines() if line.startswith("## Study"))
    assert title == (
        "## Study `s`: two lines \\#\\# not a heading \\| "
        "&lt;script&gt;alert(1)&lt;/script&gt; \\*not bold\\* \\`x\\` \\_y\\_"
    )
    page = MarkdownIt("commonmark").enable("table").render(text)
    assert "<script" not in page and "<i>" not in page and "<b>" not in page
    assert [h for h in page.splitlines() if h.startswith("<h2")] == [
        "<h2>Study <code>s</code>: two lines ## not a heading | "
        "&lt;script&gt;alert(1)&lt;/script&gt; *not bold* `x` _y_</h2>",
        "<h2>Notes</h2>",
    ]
    table = next(t for t in page.split("<table>") if "a|b" in t).split("</table>")[0]
    header, row = table.split("<tbody>")
    assert "<td>a|b &lt;i&gt;</td>" in row  # one cell, as written
    assert row.count("<td>") == header.count("<th>") == 8
    assert "<li>mnist: &lt;b&gt;note&lt;/b&gt;</li>" in page


def test_the_msds_reports_table_and_code_stand_next_to_ours():
    """docs/experiments.md B: each model of the report's code, its notebook's test accuracy and its table
    row beside ours; widths 1 and 2 are not compared; a model not trained says so."""
    ours = {
        "mnist": {
            "msds_w1": {"train_accuracy": 0.7, "val_accuracy": 0.7, "test_accuracy": 0.7},
            "msds_w5": {"train_accuracy": 0.99, "val_accuracy": 0.97, "test_accuracy": 0.9701},
            "msds_64x64": {"train_accuracy": 0.99, "val_accuracy": 0.97, "test_accuracy": 0.9516},
        },
        "mnist_rf70": {
            "msds_w5_reduced": {"train_accuracy": 0.93, "val_accuracy": 0.93, "test_accuracy": 0.9254}
        },
    }
    lines = report_section(ours)
    text = "\n".join(lines)
    assert lines[0] == "### The MSDS report's models (docs/experiments.md B)" and "RF-70 model" in text
    assert (
        "| model3 | 784 -> 128 -> 5 | `msds_w5` | 0.9651 | 3: 0.9857 / 0.9712 / 0.9682 | "
        "0.9900 / 0.9700 / 0.9701 | within ±0.01 |"
    ) in text
    assert (
        "| model10 | 784 -> 64 -> 64 | `msds_64x64` | 0.9716 | 10, 2048: 0.9922 / 0.9736 / 0.9754 "
        "| 0.9900 / 0.9700 / 0.9516 | **outside** ±0.01 (-0.0200) |"
    ) in text
    assert (
        "| model5 | RF-70 pixels -> 128 -> 5 | `msds_w5_reduced` on `mnist_rf70` | 0.9204 | "
        "5, 64 Nodes: 0.9277 / 0.9352 / 0.9192 | 0.9300 / 0.9300 / 0.9254 | within ±0.01 |"
    ) in text
    assert "| model1 | 784 -> 128 -> 1 | `msds_w1` | 0.6694 |" in text
    assert "not compared (the report's runs differ)" in text
    assert (
        "| model4 | PCA-154 -> 128 -> 5 | `msds_w5_reduced` on `mnist_pca154` | 0.9624 | "
        "4: 0.9833 / 0.9607 / 0.9660 | - | not in this study |"
    ) in text
    assert report_section({"fashion-mnist": ours["mnist"]}) == []
    assert report_section({"mnist": {"seed_mlp": {}}}) == []


def test_the_sit744_assignments_runs_stand_next_to_ours():
    """docs/experiments.md C: test loss and accuracy marked against each run, times shown side by side;
    the base model stands for both the base and the Glorot run; a model not trained says so."""
    ours = {
        "fashion-mnist": {
            "sit744_base": {"test_loss": 0.401, "test_accuracy": 0.8912, "train_seconds": 80.25},
            "sit744_l2": {"test_loss": 0.62, "test_accuracy": 0.8312, "train_seconds": 90.0},
        }
    }
    lines = assignment_section(ours)
    text = "\n".join(lines)
    assert lines[0] == "### The SIT744 assignment's runs (docs/experiments.md C)"
    assert (
        "| base | Adam, batch 128, 20 epochs | `sit744_base` | 0.369 / 0.893 | - | 0.401 / 0.891 | "
        "80.2 | loss within ±0.05; accuracy within ±0.01 |"
    ) in text
    assert (
        "| Glorot | Glorot-uniform initialisation (the base) | `sit744_base` | 0.384 / 0.894 | 127 | "
        "0.401 / 0.891 | 80.2 | loss within ±0.05; accuracy within ±0.01 |"
    ) in text
    assert (
        "| L2 | L2 0.01 on the hidden kernels | `sit744_l2` | 0.513 / 0.845 | - | 0.620 / 0.831 | 90.0 "
        "| loss **outside** ±0.05 (+0.1070); accuracy **outside** ±0.01 (-0.0138) |"
    ) in text
    assert (
        "| fan-in uniform | uniform +-1/sqrt(fan_in) initialisation | `sit744_fan_in` | 0.379 / 0.890 | 143 "
        "| - | - | not in this study |" in text
    )
    assert assignment_section({"mnist": ours["fashion-mnist"]}) == []
