"""Fit subsets and reducer variants: naming, row choice and planning (no workflow run)."""

import numpy as np
import pytest

from layermaps.config import check_reducers
from layermaps.embed.neighbors import graph_size, graph_sizes, parse_size
from layermaps.embed.reducers import REDUCERS, embed, reducer_class
from layermaps.embed.subsets import check_subset, map_name, subset_key, subset_rows
from layermaps.studies import map_order, read_studies

LABELS = np.repeat(np.arange(4), [40, 30, 20, 10])  # 100 rows, unbalanced classes


@pytest.mark.parametrize(
    "spec, key",
    [
        ({"first": 10000}, "first10000"),
        ({"stratified": 0.2}, "stratified0.2-seed42"),
        ({"stratified": 0.25, "seed": 7}, "stratified0.25-seed7"),
    ],
)
def test_a_subset_names_its_map(spec, key):
    assert subset_key(check_subset(spec, "x")) == key
    assert map_name("tsne_p40", check_subset(spec, "x")) == f"tsne_p40@{key}"
    assert map_name("umap", None) == "umap"


@pytest.mark.parametrize(
    "spec",
    [
        {"first": 0},
        {"first": 2.5},
        {"first": True},
        {"stratified": 1.0},
        {"stratified": 0},
        {"stratified": 0.2, "seed": -1},
        {"first": 10, "seed": 1},
        {"last": 10},
        [10],
        None,
    ],
)
def test_a_bad_subset_is_refused_naming_where(spec):
    with pytest.raises(ValueError, match=r"studies\.msds\.embed\.fit = .*a fit subset is"):
        check_subset(spec, "studies.msds.embed.fit")


def test_first_rows_are_the_first_fit_rows():
    np.testing.assert_array_equal(subset_rows({"first": 7}, LABELS), np.arange(7))
    with pytest.raises(ValueError, match="only 100 fit rows"):
        subset_rows({"first": 100}, LABELS)


def test_stratified_rows_keep_class_shares_and_follow_the_seed():
    spec = check_subset({"stratified": 0.5}, "x")
    rows = subset_rows(spec, LABELS)
    assert len(rows) == 50 and np.all(np.diff(rows) > 0)  # sorted, no repeats
    assert np.bincount(LABELS[rows]).tolist() == [20, 15, 10, 5]
    np.testing.assert_array_equal(rows, subset_rows(spec, LABELS))
    other = subset_rows(check_subset({"stratified": 0.5, "seed": 1}, "x"), LABELS)
    assert not np.array_equal(rows, other)
    with pytest.raises(ValueError, match="stratified 0.01 of 100 fit rows"):
        subset_rows(check_subset({"stratified": 0.01}, "x"), LABELS)  # fewer rows than classes


def test_a_variant_is_its_method_with_other_settings():
    cls, settings = reducer_class("tsne_p40", {"method": "tsne", "perplexity": 40})
    assert cls is REDUCERS["tsne"] and settings == {"perplexity": 40}
    assert reducer_class("umap", {"n_neighbors": 5}) == (REDUCERS["umap"], {"n_neighbors": 5})
    with pytest.raises(ValueError, match="method 'tsnee' of reducer 'tsne_p40'.*known methods: pca"):
        reducer_class("tsne_p40", {"method": "tsnee"})
    with pytest.raises(ValueError, match="unknown reducer 'umapp'"):
        reducer_class("umapp", {})


def test_a_variant_embeds_as_its_method_under_its_own_name(mnist50):
    x, _, xt, _ = mnist50
    emb = embed("pca_white", x, xt, seed=0, settings={"method": "pca", "whiten": True})
    plain = embed("pca", x, xt, seed=0, settings={"whiten": True})
    assert emb.reducer == "pca_white" and plain.reducer == "pca"
    np.testing.assert_array_equal(emb.test, plain.test)


def test_a_variant_needing_more_neighbours_reads_a_graph_of_its_own():
    reducers = {
        "tsne": {},
        "umap": {},
        "tsne_p40": {"method": "tsne", "perplexity": 40},
        "umap_n5": {"method": "umap", "n_neighbors": 5},
        "umap_n50": {"method": "umap", "n_neighbors": 50},
        "pca": {},
    }
    resolved = check_reducers(reducers)  # each entry resolved once, as the plan does
    base = graph_sizes(resolved)
    assert base == (90, 25)  # the variants leave the base graph as the plain entries make it
    sizes = {name: graph_size(cls, settings, base) for name, (cls, settings) in resolved.items()}
    assert sizes == {
        "tsne": "",
        "umap": "",
        "tsne_p40": "k120x25",
        "umap_n5": "",
        "umap_n50": "k49x50",
        "pca": None,
    }
    assert parse_size("k120x25") == (120, 25)


def test_study_fit_subsets_name_the_maps_and_keep_config_order():
    config = {
        "reducers": {"pca": {}, "tsne": {}, "tsne_p40": {"method": "tsne", "perplexity": 40}},
        "embed": {"raw": True, "layers": "all"},
        "studies": {
            "a": {
                "models": ["m"],
                "reducers": ["tsne_p40", "pca"],
                "embed": {"fit": {"tsne_p40": {"first": 100}}},
            },
            "b": {"models": ["m"], "embed": {"fit": {"stratified": 0.5}}},
            "c": {"models": ["m"], "reducers": ["tsne_p40"]},
        },
    }
    studies = read_studies(config, ["mnist"], {"m": {"hidden": [4]}}, {})
    assert studies["a"].fit == {"tsne_p40": {"first": 100}}
    assert set(studies["b"].fit) == {"pca", "tsne", "tsne_p40"}
    assert map_order(studies, list(config["reducers"])) == [
        "pca",
        "pca@stratified0.5-seed42",
        "tsne@stratified0.5-seed42",
        "tsne_p40",
        "tsne_p40@first100",
        "tsne_p40@stratified0.5-seed42",
    ]
    config["studies"]["a"]["embed"]["fit"] = {"umap": {"first": 100}}
    with pytest.raises(ValueError, match=r"studies\.a\.embed\.fit: umap not among the study's reducers"):
        read_studies(config, ["mnist"], {"m": {"hidden": [4]}}, {})


def test_an_embedding_keeps_its_fit_rows_and_an_older_file_reads_as_every_row(tmp_path):
    from layermaps.embed.records import Embedding

    coords = np.zeros((3, 2), np.float32)
    emb = Embedding(coords, coords, "inductive", "fit", 1.0, 0.0, 5, 5, "tsne_p40", np.array([0, 2, 5]))
    emb.save(tmp_path / "sub.npz")
    back = Embedding.load(tmp_path / "sub.npz")
    np.testing.assert_array_equal(back.fit_rows, [0, 2, 5])
    np.testing.assert_array_equal(back.fit_labels(np.arange(10) * 10), [0, 20, 50])
    whole = Embedding(coords, coords, "inductive", "fit", 1.0, 0.0, 5, 5, "tsne")
    whole.save(tmp_path / "whole.npz")
    with np.load(tmp_path / "whole.npz") as d:
        assert "fit_rows" not in d.files  # the file of a full map is as it was before subsets
    assert Embedding.load(tmp_path / "whole.npz").fit_rows is None
