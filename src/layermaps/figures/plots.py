"""Figures a person looks at. Each function returns a matplotlib Figure; `save_figure` writes
it atomically, `save_gif` writes animation frames. The Agg backend is forced: jobs run
without a display.

Sizes are pinned: every figure of the workflow is drawn with a fixed size (the `*_figsize`
helpers) and a layout engine, and saved without a tight bounding box, so its PNG is exactly
`pixel_size(figsize, dpi)` pixels. Large scatters are rasterised and drawn in a seeded
random order (no class hides under another by drawing order).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
# Every text is drawn as written: no figure uses math text, and a `$` in a class, dataset or
# model name would otherwise start it (a lone `$...$` pair, or a parse error that fails the job).
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from layermaps.atomic import atomic_path  # noqa: E402


def save_figure(fig, path: str | Path, dpi: int = 120, *, tight: bool = True) -> None:
    """Write `fig` atomically and close it. `tight=False` keeps the figure's own size."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight" if tight else None)
    plt.close(fig)


def pixel_size(figsize, dpi) -> tuple[int, int]:
    """(width, height) in pixels of a figure of `figsize` inches saved at `dpi` (no tight bbox),
    truncated the way matplotlib's Agg canvas does it."""
    return tuple(int(s * dpi + 1e-8) for s in figsize)


def training_curves(history: dict, title: str, *, layout: str | None = None):
    """Loss and accuracy per epoch, train vs validation."""
    fig, axes = plt.subplots(1, 2, figsize=TRAINING_FIGSIZE, layout=layout)
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, history[metric], marker="o", ms=3, label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], marker="o", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return fig


def curves_by_model(histories: dict, title: str):
    """Every model's loss and accuracy per epoch in one figure (histories: model -> history),
    one colour per model, training solid and validation dashed: a model that overfits shows a
    dashed loss turning up while its solid one keeps falling."""
    fig, axes = plt.subplots(1, 2, figsize=CURVES_FIGSIZE, layout="constrained")
    colors = plt.get_cmap("tab10" if len(histories) <= 10 else "tab20")(np.arange(len(histories)))
    for color, (model, history) in zip(colors, histories.items()):
        epochs = np.arange(1, len(history["loss"]) + 1)
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(epochs, history[metric], color=color, lw=1.5, label=model)
            if f"val_{metric}" in history:
                ax.plot(epochs, history[f"val_{metric}"], color=color, lw=1.5, ls="--")
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set(xlabel="epoch", ylabel=metric, title=f"{metric}: training (solid), validation (dashed)")
        ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", title="model")
    fig.suptitle(title)
    return fig


def confusion_heatmaps(panels, class_names, title: str, *, layout: str | None = None):
    """Row-normalised confusion matrices (true x predicted) side by side, counts in the cells;
    panels: [(counts, subtitle), ...] (the report's training rows, then the test rows)."""
    fig, axes = plt.subplots(
        1, len(panels), figsize=confusion_figsize(len(panels)), layout=layout, squeeze=False
    )
    ticks = np.arange(len(class_names))
    for ax, (counts, subtitle) in zip(axes[0], panels):
        counts = np.asarray(counts)
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(ticks, class_names, rotation=45, ha="right")
        ax.set_yticks(ticks, class_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        for i in ticks:
            for j in ticks:
                if counts[i, j]:
                    ax.text(
                        j,
                        i,
                        int(counts[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black",
                    )
        ax.set_title(subtitle)
    fig.colorbar(im, ax=axes[0].tolist(), label="share of the true class", shrink=0.8)
    fig.suptitle(title)
    return fig


def input_pair_figure(
    pair,
    predicted,
    labels,
    class_names,
    title: str,
    *,
    names,
    image=None,
    marks=(),
    cmap: str = "tab10",
    point_size: float = 2.0,
):
    """Two input columns of every test row (pair: (n, 2)), coloured by the model's predicted
    class (left) and by the true class (middle); for images, where the two pixels are on the
    mean training image (right, `image` with `marks` [(row, col), ...])."""
    colors = class_colors(len(class_names), cmap)
    fig, axes = plt.subplots(
        1,
        2 if image is None else 3,
        figsize=input_pair_figsize(image is not None),
        layout="constrained",
        squeeze=False,
    )
    axes = axes[0]
    # Pixels pile up on a few values (0 and 1 for MNIST): a small seeded jitter shows the piles.
    pair = np.asarray(pair, np.float64)
    spread = np.maximum(pair.max(axis=0) - pair.min(axis=0), 1e-9)
    pair = pair + np.random.default_rng(0).uniform(-0.015, 0.015, pair.shape) * spread
    xlim, ylim = _limits(pair)
    for ax, y, what in ((axes[0], predicted, "predicted class"), (axes[1], labels, "true class")):
        _scatter(ax, pair, y, colors, point_size)
        ax.set(xlim=xlim, ylim=ylim, xlabel=names[0], ylabel=names[1], title=f"coloured by {what}")
        ax.grid(alpha=0.3)
    if image is not None:
        axes[2].imshow(image, cmap="gray_r")
        for (row, col), name in zip(marks, ("a", "b")):
            axes[2].scatter([col], [row], s=60, facecolors="none", edgecolors="red", linewidths=1.5)
            axes[2].annotate(name, (col, row), xytext=(5, 5), textcoords="offset points", color="red")
        axes[2].set_xticks([]), axes[2].set_yticks([])
        axes[2].set_title("the two pixels on the mean training image")
    _class_legend(fig, class_names, colors, loc="outside right center")
    fig.suptitle(f"{title} (points jittered by 1.5 % of each range)")
    return fig


def decision_regions(
    x1, x2, predicted, class_names, title: str, *, points=None, curves=(), cmap: str = "tab10"
):
    """A 2-D classifier's predicted class over a grid (x1, x2: the grid's axes; predicted:
    (len(x2), len(x1)) class indices), with (xy, labels) points and (x, y, label) curves on top."""
    colors = class_colors(len(class_names), cmap)
    fig, ax = plt.subplots(figsize=DECISION_FIGSIZE, layout="constrained")
    from matplotlib.colors import ListedColormap

    ax.pcolormesh(
        x1,
        x2,
        predicted,
        cmap=ListedColormap(colors),
        vmin=-0.5,
        vmax=len(class_names) - 0.5,
        alpha=0.35,
        shading="auto",
    )
    if points is not None:
        xy, labels = points
        _scatter(ax, np.asarray(xy), np.asarray(labels), colors, 6)
    for x, y, label in curves:
        ax.plot(x, y, color="black", linewidth=1.2, linestyle="--")
        ax.annotate(
            label,
            (x[len(x) // 5], y[len(y) // 5]),
            textcoords="offset points",
            xytext=(-10, 10),
            fontsize=9,
            ha="right",
            bbox={"boxstyle": "round", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    ax.set(xlim=(x1[0], x1[-1]), ylim=(x2[0], x2[-1]), xlabel="x1", ylabel="x2", title=title)
    _class_legend(ax, class_names, colors, loc="upper right")
    return fig


# ----------------------------------------------------------------------------- sizes (inches)
TRAINING_FIGSIZE = (10.0, 4.0)
CURVES_FIGSIZE = (15.0, 5.5)
DECISION_FIGSIZE = (8.0, 6.0)


def confusion_figsize(n_panels: int) -> tuple[float, float]:
    return (1.5 + 6.5 * n_panels, 6.5)


def input_pair_figsize(image: bool) -> tuple[float, float]:
    return (15.0 if image else 11.0, 5.0)


EMBEDDING_FIGSIZE = (13.0, 6.0)
PCA_FIGSIZE = (13.0, 6.0)


def grid_figsize(n_rows: int, n_cols: int) -> tuple[float, float]:
    return (2.0 + 3.5 * n_cols, 1.0 + 3.5 * n_rows)


def heatmap_figsize(n_rows: int, n_cols: int) -> tuple[float, float]:
    return (4.0 + 1.25 * n_cols, 2.0 + 0.5 * n_rows)


def comparison_figsize(n_sources: int, n_panels: int) -> tuple[float, float]:
    return (max(8.0, 2.5 + 0.75 * n_sources), 1.5 + 3.0 * n_panels)


SWEEP_FIGSIZE = (13.0, 5.0)


def boxplots_figsize(n_units: int) -> tuple[float, float]:
    rows = max(1, -(-n_units // 3))
    return (15.0, 1.0 + 3.5 * rows)


def activation_gif_figsize(n_layers: int) -> tuple[float, float]:
    return (11.0, max(3.5, 1.0 + 2.0 * n_layers))


# ----------------------------------------------------------------------------- helpers
def class_colors(n_classes: int, cmap: str = "tab10") -> np.ndarray:
    """(n_classes, 4) RGBA: one colour per class from a named colour map. A qualitative map
    (tab10, Set1: at most 20 colours) with enough colours gives its first n (tab10's blue and
    orange for two classes, not the two ends of the map); any other map is sampled evenly."""
    colormap = matplotlib.colormaps[cmap]
    qualitative = isinstance(colormap, matplotlib.colors.ListedColormap) and colormap.N <= 20
    if qualitative and colormap.N >= n_classes:
        return colormap(np.arange(n_classes))
    return colormap.resampled(n_classes)(np.arange(n_classes))


def marker_area(point_size: float, n_points: int) -> float:
    """Scatter marker area: `point_size` at 20,000 points or more, up to 16x larger for small
    samples (a 200-point test subsample stays visible with the full-data setting)."""
    return point_size * float(np.clip(np.sqrt(20000 / max(n_points, 1)), 1.0, 16.0))


def _scatter(ax, xy, labels, colors, size, order_seed=0):
    """Rasterised scatter of (n, 2) points coloured by integer label, drawn in random order."""
    xy = np.asarray(xy)
    order = np.random.default_rng(order_seed).permutation(len(xy))
    ax.scatter(
        xy[order, 0],
        xy[order, 1],
        c=colors[np.asarray(labels)[order]],
        s=marker_area(size, len(xy)),
        linewidths=0,
        rasterized=True,
    )


def _limits(*arrays, margin=0.03):
    """Shared (xlim, ylim) that hold every point of every (n, 2) array."""
    pts = np.concatenate([np.asarray(a, dtype=float) for a in arrays if len(a)])
    lo, hi = np.nanmin(pts, axis=0), np.nanmax(pts, axis=0)
    pad = np.maximum((hi - lo) * margin, 1e-6)
    return (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])


def _class_legend(fig_or_ax, class_names, colors, **kw):
    handles = [
        matplotlib.lines.Line2D([], [], ls="", marker="o", ms=7, color=colors[i], label=str(name))
        for i, name in enumerate(class_names)
    ]
    return fig_or_ax.legend(handles=handles, title="class", **kw)


# ----------------------------------------------------------------------------- embeddings
def embedding_figure(
    train_xy,
    y_train,
    test_xy,
    y_test,
    class_names,
    title: str,
    *,
    cmap: str = "tab10",
    point_size: float = 2.0,
):
    """Training and test points side by side in the same 2-D coordinates (same limits)."""
    colors = class_colors(len(class_names), cmap)
    fig, axes = plt.subplots(1, 2, figsize=EMBEDDING_FIGSIZE, layout="constrained", sharex=True, sharey=True)
    xlim, ylim = _limits(train_xy, test_xy)
    for i, (ax, xy, y, split) in enumerate(
        zip(axes, (train_xy, test_xy), (y_train, y_test), ("train", "test"))
    ):
        _scatter(ax, xy, y, colors, point_size, order_seed=i)
        ax.set_title(f"{split} ({len(xy):,} points)")
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        ax.set_xlabel("dimension 1")
        ax.set_aspect("auto")
    axes[0].set_ylabel("dimension 2")
    _class_legend(fig, class_names, colors, loc="outside right center")
    fig.suptitle(title)
    return fig


def grid_figure(
    panels, row_labels, col_labels, class_names, title: str, *, cmap: str = "tab10", point_size: float = 1.0
):
    """A grid of 2-D maps: panels[i][j] is None or {"xy", "labels", "title"}."""
    colors = class_colors(len(class_names), cmap)
    n_rows, n_cols = len(row_labels), len(col_labels)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=grid_figsize(n_rows, n_cols), layout="constrained", squeeze=False
    )
    for i, row in enumerate(panels):
        for j, panel in enumerate(row):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if panel is None:
                ax.text(
                    0.5, 0.5, "not embedded", ha="center", va="center", transform=ax.transAxes, color="grey"
                )
            else:
                _scatter(ax, panel["xy"], panel["labels"], colors, point_size)
                ax.set_title(panel.get("title", ""), fontsize=10)
            if j == 0:
                ax.set_ylabel(row_labels[i], fontsize=12)
            if i == n_rows - 1:
                ax.set_xlabel(col_labels[j], fontsize=12)
    _class_legend(fig, class_names, colors, loc="outside right center")
    fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- scores
def knn_heatmap(values, row_labels, col_labels, title: str, *, cmap: str = "viridis"):
    """Accuracy per source (rows) and reducer (columns), annotated; NaN cells are blank."""
    values = np.asarray(values, dtype=float)
    fig, ax = plt.subplots(figsize=heatmap_figsize(*values.shape), layout="constrained")
    finite = values[np.isfinite(values)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=lo, vmax=max(hi, lo + 1e-6), aspect="auto")
    ax.set_xticks(np.arange(len(col_labels)), col_labels, rotation=30, ha="right")
    ax.set_yticks(np.arange(len(row_labels)), row_labels)
    mid = (lo + hi) / 2
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.3f}",
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="black" if values[i, j] > mid else "white",
                )
    fig.colorbar(im, ax=ax, label="kNN accuracy (test)")
    ax.set_title(title)
    return fig


def comparison_bars(sources, panels: dict, datasets, title: str, *, ylabel: str = "kNN accuracy"):
    """Grouped bars: one panel per reducer, sources on x, one bar per dataset.

    panels maps panel name -> {dataset: [value per source (NaN = missing)]}.
    """
    n = len(sources)
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=comparison_figsize(n, len(panels)),
        layout="constrained",
        sharex=True,
        squeeze=False,
    )
    width = 0.8 / max(len(datasets), 1)
    x = np.arange(n)
    colors = [f"C{d}" for d in range(len(datasets))]  # distinct: blue, orange, ...
    for ax, (name, by_dataset) in zip(axes[:, 0], panels.items()):
        for d, dataset in enumerate(datasets):
            vals = np.asarray(by_dataset.get(dataset, [np.nan] * n), dtype=float)
            bars = ax.bar(
                x + (d - (len(datasets) - 1) / 2) * width,
                np.nan_to_num(vals),
                width,
                label=dataset,
                color=colors[d],
            )
            for bar, v in zip(bars, vals):
                if np.isfinite(v):
                    ax.text(
                        bar.get_x() + bar.get_width() / 2,
                        v + 0.01,
                        f"{v:.2f}",
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        rotation=90,
                    )
        ax.set_ylim(0, 1.12)
        ax.set_ylabel(ylabel)
        ax.set_title(name)
        ax.grid(axis="y", alpha=0.3)
    axes[-1, 0].set_xticks(x, sources, rotation=30, ha="right")
    axes[0, 0].legend(loc="upper left", ncols=len(datasets))
    fig.suptitle(title)
    return fig


def sweep_figure(values, xlabel: str, accuracy: dict, knn: dict, title: str, *, knn_label: str):
    """Model accuracy (left) and 2-D kNN accuracy per reducer (right) against the varied value.

    accuracy: {"train": [...], "val": [...], "test": [...]} (one value per sweep member, or a
    list of values, one per repeat: the mean is drawn, with every repeat as a dot and the
    standard deviation as an error bar); knn: {reducer: [...]} alike. Numeric positive values
    spanning a factor >= 4 get a log axis.
    """
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric:
        x = np.asarray(values, dtype=float)
        log = bool(np.all(x > 0) and x.max() / x.min() >= 4)
    else:
        x, log = np.arange(len(values), dtype=float), False
    order = np.argsort(x, kind="stable")
    fig, axes = plt.subplots(1, 2, figsize=SWEEP_FIGSIZE, layout="constrained", sharex=True)
    styles = {
        "train": dict(ls="--", marker="o"),
        "val": dict(ls=":", marker="s"),
        "test": dict(ls="-", marker="o", lw=2.5),
    }
    repeated = any(len(_runs(v)) > 1 for vals in (*accuracy.values(), *knn.values()) for v in vals)
    for name, vals in accuracy.items():
        _mean_and_repeats(axes[0], x, order, vals, name, styles.get(name, dict(marker="o")))
    axes[0].set_ylabel("accuracy")
    axes[0].set_title("model accuracy" + (" (mean; dots: each repeat; bars: ± sd)" if repeated else ""))
    for name, vals in knn.items():
        style = dict(ls="--", color="black", marker="x") if name == "unreduced" else dict(marker="o")
        _mean_and_repeats(axes[1], x, order, vals, name, style)
    axes[1].set_ylabel(knn_label)
    axes[1].set_title("kNN accuracy of the test points" if knn else "no embeddings configured")
    for ax in axes:
        if log:
            ax.set_xscale("log")
        ax.set_xticks(x, [str(v) for v in values], rotation=0 if numeric else 30)
        ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right")
    fig.suptitle(title)
    return fig


def _runs(value) -> np.ndarray:
    """A sweep member's value as the array of its repeats' values (NaN: not run)."""
    return np.atleast_1d(np.asarray(value, dtype=float))


def _mean_and_repeats(ax, x, order, values, label: str, style: dict) -> None:
    """One line through the members' means; where a member has repeats, each as a dot and the
    standard deviation as an error bar, in the line's colour."""
    runs = [_runs(v) for v in values]
    means = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in runs])
    (line,) = ax.plot(x[order], means[order], label=label, **style)
    if any(len(r) > 1 for r in runs):
        sd = np.array([np.nanstd(r, ddof=1) if np.isfinite(r).sum() > 1 else 0.0 for r in runs])
        ax.errorbar(x, means, yerr=sd, fmt="none", ecolor=line.get_color(), capsize=3, lw=1)
        xs = np.concatenate([np.full(len(r), xi) for xi, r in zip(x, runs)])
        ax.scatter(xs, np.concatenate(runs), s=10, color=line.get_color(), alpha=0.5, zorder=3)


# ----------------------------------------------------------------------------- hidden layers
def pca(x, n_components: int = 3):
    """(coords (n, n_components), explained variance ratios): PCA by SVD of the centred data.

    Columns beyond the data's rank are zero with ratio 0; constant data gives all zeros.
    """
    x = np.asarray(x, dtype=np.float64)
    xc = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    total = float((s**2).sum())
    m = min(n_components, len(s))
    coords = np.zeros((len(x), n_components))
    coords[:, :m] = xc @ vt[:m].T
    ratios = np.zeros(n_components)
    if total > 0:
        ratios[:m] = s[:m] ** 2 / total
    return coords, ratios


def pca_figure(acts, labels, class_names, title: str, *, cmap: str = "tab10", point_size: float = 2.0):
    """PCA of activations: 2-D (left) and 3-D (right), axes labelled with variance ratios."""
    coords, ratios = pca(acts, 3)
    colors = class_colors(len(class_names), cmap)
    fig = plt.figure(figsize=PCA_FIGSIZE, layout="constrained")
    ax2 = fig.add_subplot(1, 2, 1)
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    order = np.random.default_rng(0).permutation(len(coords))
    c = colors[np.asarray(labels)[order]]
    point_size = marker_area(point_size, len(coords))
    ax2.scatter(coords[order, 0], coords[order, 1], c=c, s=point_size, linewidths=0, rasterized=True)
    ax3.scatter(
        coords[order, 0],
        coords[order, 1],
        coords[order, 2],
        c=c,
        s=point_size,
        linewidths=0,
        rasterized=True,
        depthshade=False,
    )
    lab = [f"PC{i + 1} ({r:.1%} of variance)" for i, r in enumerate(ratios)]
    ax2.set_xlabel(lab[0])
    ax2.set_ylabel(lab[1])
    ax2.set_title(f"2-D: {ratios[:2].sum():.1%} of the variance")
    ax3.set_xlabel(lab[0], fontsize=8)
    ax3.set_ylabel(lab[1], fontsize=8)
    ax3.set_zlabel(lab[2], fontsize=8)
    ax3.set_title(f"3-D: {ratios.sum():.1%} of the variance")
    _class_legend(fig, class_names, colors, loc="outside right center")
    fig.suptitle(title)
    return fig


def unit_boxplots(acts, predicted, class_names, title: str, *, n_units: int = 6):
    """One panel per unit (the first n_units): its activation grouped by predicted class."""
    acts = np.asarray(acts)
    n = min(n_units, acts.shape[1])
    rows, cols = max(1, -(-n // 3)), 3
    fig, axes = plt.subplots(rows, cols, figsize=boxplots_figsize(n), layout="constrained", squeeze=False)
    predicted = np.asarray(predicted)
    ticks = np.arange(1, len(class_names) + 1)
    for u, ax in enumerate(axes.flat):
        if u >= n:
            ax.set_axis_off()
            continue
        groups = [acts[predicted == c, u] for c in range(len(class_names))]
        ax.boxplot(
            [g if len(g) else [np.nan] for g in groups],
            positions=ticks,
            widths=0.6,
            flierprops=dict(markersize=2, alpha=0.4),
            medianprops=dict(color="C1"),
        )
        ax.set_xticks(
            ticks,
            [f"{name} ({len(g)})" for name, g in zip(class_names, groups)],
            rotation=45,
            ha="right",
            fontsize=8,
        )
        ax.set_title(f"unit {u + 1}")
        ax.set_ylabel("activation")
        ax.grid(axis="y", alpha=0.3)
    fig.supxlabel("predicted class (number of test images)")
    fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- animations
def _frame(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _bar_figure(n_layers: int, widths, ylims, layer_names, dpi):
    """A figure with an image panel (left) and one bar chart per layer; fixed layout."""
    fig = plt.figure(figsize=activation_gif_figsize(n_layers), dpi=dpi)
    gs = fig.add_gridspec(
        n_layers,
        2,
        width_ratios=[1, 3],
        left=0.05,
        right=0.98,
        bottom=0.08,
        top=0.86,
        wspace=0.15,
        hspace=0.6,
    )
    ax_img = fig.add_subplot(gs[:, 0])
    ax_img.set_xticks([])
    ax_img.set_yticks([])
    bars, titles = [], []
    for i, (name, w, ylim) in enumerate(zip(layer_names, widths, ylims)):
        ax = fig.add_subplot(gs[i, 1])
        bars.append(ax.bar(np.arange(w), np.zeros(w), width=1.0, color=f"C{i}"))
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(0, ylim)
        ax.set_ylabel("activation")
        titles.append(ax.set_title(name, fontsize=10, loc="left"))
        if i == n_layers - 1:
            ax.set_xlabel("unit")
    return fig, ax_img, bars, titles


def _ylim(values) -> float:
    top = float(np.nanmax(values)) if np.size(values) else 0.0
    return top * 1.05 if top > 0 else 1.0


def activation_frames(images, layers: dict, captions, title: str, *, dpi: int = 100, image_shape=None):
    """Frames (RGB arrays) of an animation: image i beside each layer's activations as bars.

    images: (n, 784) uint8 or float; layers: {name: (n, units)}; captions: one line per frame.
    The y-axis of each layer is fixed across frames (its maximum over the n images).
    """
    names = list(layers)
    fig, ax_img, bars, titles = _bar_figure(
        len(names), [layers[k].shape[1] for k in names], [_ylim(layers[k]) for k in names], names, dpi
    )
    img = ax_img.imshow(_as_image(images[0], image_shape), cmap="gray_r", vmin=0, vmax=_image_max(images))
    sup = fig.suptitle(title)
    frames = []
    for i in range(len(images)):
        img.set_data(_as_image(images[i], image_shape))
        ax_img.set_title(captions[i], fontsize=10)
        for name, group, t in zip(names, bars, titles):
            a = layers[name][i]
            for rect, h in zip(group, a):
                rect.set_height(h)
            t.set_text(f"{name}: {len(a)} units, {int((a > 0).sum())} active")
        frames.append(_frame(fig))
    plt.close(fig)
    del sup
    return frames


def running_mean_frames(images, layers: dict, title: str, *, dpi: int = 100, image_shape=None):
    """Frames of the running mean of each layer's activations over the first 1..n images.

    Frame n shows the mean over images 1..n (and the mean image); the y-axis is fixed at the
    largest running mean, so the pattern settling down is visible as bars that stop moving.
    """
    names = list(layers)
    n = len(images)
    means = {
        k: np.cumsum(np.asarray(v, dtype=np.float64), axis=0) / np.arange(1, n + 1)[:, None]
        for k, v in layers.items()
    }
    mean_images = np.cumsum(np.asarray(images, dtype=np.float64), axis=0) / np.arange(1, n + 1)[:, None]
    fig, ax_img, bars, titles = _bar_figure(
        len(names),
        [means[k].shape[1] for k in names],
        [_ylim(means[k]) for k in names],
        [f"{k}: running mean" for k in names],
        dpi,
    )
    img = ax_img.imshow(
        _as_image(mean_images[0], image_shape), cmap="gray_r", vmin=0, vmax=_image_max(images)
    )
    fig.suptitle(title)
    frames = []
    for i in range(n):
        img.set_data(_as_image(mean_images[i], image_shape))
        ax_img.set_title(f"mean of the first {i + 1} of {n} images", fontsize=10)
        for name, group, t in zip(names, bars, titles):
            m = means[name][i]
            for rect, h in zip(group, m):
                rect.set_height(h)
            change = np.abs(m - means[name][i - 1]).mean() if i else float("nan")
            t.set_text(
                f"{name}: running mean over {i + 1} image(s); mean |change| from "
                f"{i} image(s): " + ("-" if i == 0 else f"{change:.4f}")
            )
        frames.append(_frame(fig))
    plt.close(fig)
    return frames


def _as_image(row, shape=None):
    """A flattened input as its image: the dataset's image_shape, else square, else one row."""
    row = np.asarray(row)
    if shape is not None and len(shape) and int(np.prod(shape)) == row.size:
        return row.reshape(tuple(int(s) for s in shape))
    side = int(round(np.sqrt(row.size)))
    return row.reshape(side, side) if side * side == row.size else row.reshape(1, -1)


def _image_max(images) -> float:
    return 255.0 if np.asarray(images).dtype == np.uint8 else max(float(np.max(images)), 1e-6)


def save_gif(frames, path: str | Path, *, fps: float = 5.0) -> None:
    """Write RGB frames as a looping GIF, atomically, one palette shared by every frame."""
    from PIL import Image

    if not len(frames):
        raise ValueError(f"{path}: no frames to write")
    first = Image.fromarray(frames[0]).quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    rest = [Image.fromarray(f).quantize(palette=first, dither=Image.Dither.NONE) for f in frames[1:]]
    with atomic_path(path) as tmp:
        first.save(
            tmp, save_all=True, append_images=rest, duration=max(int(1000 / fps), 20), loop=0, optimize=False
        )


def map_frames(
    frames, class_names, title: str, *, cmap: str = "tab10", point_size: float = 1.0, dpi: int = 80
):
    """Frames (RGB arrays) of an animation of 2-D maps: frames are {"xy", "labels", "title"},
    drawn in one pair of axes whose limits hold every frame's points (a point that moves on
    the screen moved in the map)."""
    colors = class_colors(len(class_names), cmap)
    xlim, ylim = _limits(*(f["xy"] for f in frames))
    fig, ax = plt.subplots(figsize=(7.5, 6.0), dpi=dpi, layout="constrained")
    _class_legend(fig, class_names, colors, loc="outside right center")
    fig.suptitle(title)
    out = []
    for frame in frames:
        ax.clear()
        _scatter(ax, frame["xy"], frame["labels"], colors, point_size)
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(frame["title"], fontsize=11)
        out.append(_frame(fig))
    plt.close(fig)
    return out


def over_training_figure(panels: dict, title: str, *, ylabel: str):
    """One panel per model: a line per layer (and map) of a score against the epoch.
    panels: model -> {label: (epochs, values)}."""
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.5 * len(panels), 4.2), layout="constrained", squeeze=False, sharey=True
    )
    for ax, (model, lines) in zip(axes[0], panels.items()):
        for i, (label, (epochs, values)) in enumerate(lines.items()):
            ax.plot(epochs, values, marker="o", color=f"C{i % 10}", label=label)
        ax.set_title(model)
        ax.set_xlabel("epoch")
        ax.set_xticks(sorted({e for epochs, _ in lines.values() for e in epochs}))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    axes[0, 0].set_ylabel(ylabel)
    fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- reduced inputs
TRANSFORM_FIGSIZE = (12.0, 5.0)


def input_transform_figure(transform, example, image_shape, title: str):
    """What a reduced input keeps (layermaps.data.transforms). forest: every input column's
    importance (a heat map for images, kept columns outlined) and the kept columns marked on
    one example; pca: the cumulative explained variance and one example next to what its
    components keep of it. Non-image inputs get bars instead of images."""
    fig, axes = plt.subplots(1, 2, figsize=TRANSFORM_FIGSIZE, layout="constrained")
    shape = tuple(int(s) for s in image_shape)
    image = len(shape) == 2 and int(np.prod(shape)) == len(example)
    example = np.asarray(example, np.float32)
    if transform.method == "forest":
        kept = np.asarray(transform.columns)
        if image:
            rows, cols = np.unravel_index(kept, shape)
            im = axes[0].imshow(transform.importances.reshape(shape), cmap="viridis")
            fig.colorbar(im, ax=axes[0], shrink=0.8, label="importance")
            axes[0].scatter(cols, rows, s=30, facecolors="none", edgecolors="red", linewidths=0.8)
            axes[1].imshow(example.reshape(shape), cmap="gray_r")
            axes[1].scatter(cols, rows, s=14, color="red")
            for ax in axes:
                ax.set_xticks([]), ax.set_yticks([])
        else:
            colors = np.where(np.isin(np.arange(len(transform.importances)), kept), "tab:red", "tab:gray")
            axes[0].bar(np.arange(len(transform.importances)), transform.importances, color=colors)
            axes[0].set_xlabel("input column"), axes[0].set_ylabel("importance")
            axes[1].bar(np.arange(len(example)), example, color=colors)
            axes[1].set_xlabel("input column")
        axes[0].set_title(f"forest importance of each input (the {len(kept)} kept outlined)")
        axes[1].set_title(f"the {len(kept)} kept inputs on a test example")
    else:
        ratio = np.cumsum(transform.explained_variance_ratio)
        axes[0].plot(np.arange(1, len(ratio) + 1), ratio, marker=".")
        axes[0].set_xlabel("components"), axes[0].set_ylabel("explained variance (cumulative)")
        axes[0].set_ylim(0, 1.02), axes[0].grid(alpha=0.3)
        axes[0].set_title(f"{len(ratio)} components keep {ratio[-1]:.3f} of the variance")
        kept = transform.mean + (example - transform.mean) @ transform.components.T @ transform.components
        if image:
            both = np.hstack([example.reshape(shape), kept.reshape(shape)])
            axes[1].imshow(both, cmap="gray_r")
            axes[1].set_xticks([]), axes[1].set_yticks([])
        else:
            axes[1].plot(example, label="input"), axes[1].plot(kept, label="kept")
            axes[1].legend()
        axes[1].set_title(f"a test example, and what {len(ratio)} components keep of it")
    fig.suptitle(title)
    return fig


def cka_figsize(n: int) -> tuple[float, float]:
    """Two square panels of n x n cells and a colour bar."""
    size = 2.2 + 0.55 * n
    return (2 * size + 1.2, size + 0.6)


def cka_heatmaps(biased, debiased, labels: list[str], title: str):
    """Two layer x layer panels, linear CKA and its debiased form, on one 0..1 scale."""
    n = len(labels)
    fig, axes = plt.subplots(1, 2, figsize=cka_figsize(n), layout="constrained")
    for ax, values, name in zip(axes, (biased, debiased), ("linear CKA", "debiased linear CKA")):
        values = np.asarray(values, dtype=float)
        im = ax.imshow(np.ma.masked_invalid(values), cmap="magma", vmin=0, vmax=1)
        ax.set_xticks(np.arange(n), labels, rotation=45, ha="right")
        ax.set_yticks(np.arange(n), labels)
        ax.set_title(name)
        if n <= 12:
            for i in range(n):
                for j in range(n):
                    if np.isfinite(values[i, j]):
                        ax.text(
                            j,
                            i,
                            f"{values[i, j]:.2f}",
                            ha="center",
                            va="center",
                            fontsize=8,
                            color="black" if values[i, j] > 0.5 else "white",
                        )
    fig.colorbar(im, ax=axes, shrink=0.8, label="CKA")
    fig.suptitle(title)
    return fig


def study_cka_figsize(panels: int) -> tuple[float, float]:
    """Up to three panels a row."""
    cols = min(3, max(1, panels))
    return (4.6 * cols, 4.0 * -(-panels // cols))


def study_cka_figure(record: dict, title: str):
    """A study's CKA on one dataset, one panel each: seed stability (mean CKA between a model's
    repeats, min to max as a bar, one line per layer, models by their sweep value where they
    have one); corresponding layers across models (one heatmap per layer); CKA of each
    snapshot's layer to the trained model's against the epoch (one panel per model)."""
    seeds, across, snapshots = record["seeds"], record["across"], record["snapshots"]
    panels = (["seeds"] if seeds else []) + [("across", k) for k in across] + [("snap", m) for m in snapshots]
    cols = min(3, max(1, len(panels)))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.6 * cols, 4.0 * rows), layout="constrained", squeeze=False
    )
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    for ax, panel in zip(axes.ravel(), panels):
        if panel == "seeds":
            models = list(seeds)
            values = record.get("values", {})
            numeric = all(isinstance(values.get(m), (int, float)) for m in models)
            if numeric:
                models.sort(key=lambda m: values[m])
            x = np.arange(len(models))
            for layer in next(iter(seeds.values())):
                s = [seeds[m][layer]["cka"] for m in models]
                mean = np.array([v["mean"] for v in s])
                err = np.array([[v["mean"] - v["min"] for v in s], [v["max"] - v["mean"] for v in s]])
                ax.errorbar(x, mean, yerr=err, marker="o", capsize=3, label=layer)
            ax.set_xticks(
                x, [str(values[m]) if numeric else m for m in models], rotation=30 if not numeric else 0
            )
            ax.set_xlabel("width" if numeric else "model")
            ax.set_ylabel("CKA between seeds (mean, min to max)")
            ax.set_ylim(0, 1.02)
            ax.set_title("seed stability")
            ax.legend(fontsize=8)
        elif panel[0] == "across":
            entry = across[panel[1]]
            im = ax.imshow(
                np.ma.masked_invalid(np.array(entry["cka"], dtype=float)), cmap="magma", vmin=0, vmax=1
            )
            n = len(entry["models"])
            ax.set_xticks(np.arange(n), entry["models"], rotation=45, ha="right", fontsize=7)
            ax.set_yticks(np.arange(n), entry["models"], fontsize=7)
            ax.set_title(f"{panel[1]} across models")
            fig.colorbar(im, ax=ax, shrink=0.8)
        else:
            model = panel[1]
            for layer, per in snapshots[model].items():
                epochs = sorted(per, key=int)
                ax.plot([int(e) for e in epochs], [per[e]["cka"] for e in epochs], marker="o", label=layer)
            ax.set_xlabel("epoch")
            ax.set_ylabel("CKA to the trained layer")
            ax.set_ylim(0, 1.02)
            ax.set_title(f"{model} over training")
            ax.legend(fontsize=8)
    fig.suptitle(title)
    return fig


PROFILE_FIGSIZE = (13.0, 3.8)


def layer_profile(lines: dict[str, list[tuple[int, dict]]], title: str):
    """Four panels against depth (0: raw pixels): probe accuracy, kNN ceiling, best 2-D kNN
    accuracy, intrinsic dimension (TwoNN solid, MLE dashed); one line per model, which starts
    from the raw pixels' point when the study has it."""
    fig, axes = plt.subplots(1, 4, figsize=PROFILE_FIGSIZE, layout="constrained")
    raw = lines.get("raw", [])
    names = [m for m in lines if m != "raw"]
    colours = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    first = lines[names[0]][0][1] if names and lines[names[0]] else raw[0][1]
    keys = list(first)
    for c, model in enumerate(names):
        points = raw + lines[model]
        x = [d for d, _ in points]
        for ax, key in zip(axes[:3], keys[:3]):
            ax.plot(x, [v[key] for _, v in points], marker="o", color=colours(c % colours.N), label=model)
        axes[3].plot(
            x, [v[keys[3]] for _, v in points], marker="o", color=colours(c % colours.N), label=model
        )
        axes[3].plot(x, [v[keys[4]] for _, v in points], marker="x", ls="--", color=colours(c % colours.N))
    for ax, key in zip(axes, [*keys[:3], "intrinsic dimension (TwoNN —, MLE --)"]):
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("depth (0: raw pixels)")
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes[:3]:
        ax.set_ylim(None, 1.0)
    if len(names) <= 12:
        axes[0].legend(fontsize=7)
    fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- point by point
def layer_change_figsize(n_panels: int) -> tuple[float, float]:
    return (3.6 * n_panels + 1.6, 4.2)


def layer_change(panels: list[dict], labels, class_names, title: str, *, point_size: float = 2.0):
    """One map of consecutive sources side by side: panels [{"label", "xy"}, then each with
    "jaccard" (per point, against the panel before) and "disparity"], the first coloured by
    class, the others by neighbourhood change (Jaccard: 1 kept, 0 none shared), each already
    aligned onto the one before."""
    colors = class_colors(len(class_names))
    fig, axes = plt.subplots(
        1, len(panels), figsize=layer_change_figsize(len(panels)), layout="constrained", squeeze=False
    )
    change = None
    for ax, p in zip(axes[0], panels):
        ax.set_xticks([])
        ax.set_yticks([])
        if "jaccard" not in p:
            _scatter(ax, p["xy"], labels, colors, point_size)
            ax.set_title(f"{p['label']}: class", fontsize=10)
            continue
        j = np.asarray(p["jaccard"])
        order = np.argsort(-j, kind="stable")  # the most changed points drawn last, on top
        change = ax.scatter(
            p["xy"][order, 0],
            p["xy"][order, 1],
            c=j[order],
            cmap="magma",
            vmin=0.0,
            vmax=1.0,
            s=marker_area(point_size, len(j)),
            linewidths=0,
            rasterized=True,
        )
        ax.set_title(
            f"{p['label']}: mean Jaccard {j.mean():.2f}\n{np.mean(j == 0):.0%} share no neighbour; "
            f"disparity {p['disparity']:.2f}",
            fontsize=9,
        )
    _class_legend(fig, class_names, colors, loc="outside left center")
    if change is not None:
        fig.colorbar(change, ax=axes[0, -1], label="neighbours kept (Jaccard) from the panel before")
    fig.suptitle(title, fontsize=10)
    return fig
