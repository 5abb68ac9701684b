"""The plan of a run, built by one library call from a validated config, without Snakemake:
what it trains, embeds and draws, every target, and the names it spells through the path table
(the workflow tests check that the rules make exactly these files)."""

import copy
from pathlib import Path

import pytest
import yaml

from layermaps.config import ConfigError, validate_config
from layermaps.paths import MODEL_FIGURES, MapName, Paths, Source
from layermaps.plan import build

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def plan_of(edit=None, **top):
    config = copy.deepcopy(DEFAULT)
    config.update(top)
    if edit:
        edit(config)
    validate_config(config, SCHEMA)
    return build(config)


@pytest.fixture(scope="module")
def default():
    return plan_of()


def test_sources_and_maps_are_parsed_and_spelled_by_one_type():
    for name in ("raw", "seed_mlp/hidden2", "seed_mlp@epoch10/output", "msds_w1.0e+2/hidden1"):
        assert str(Source.parse(name)) == name
    snap = Source.parse("seed_mlp@epoch10/hidden2")
    assert (snap.model, snap.layer, snap.epoch, snap.owner) == ("seed_mlp", "hidden2", 10, "seed_mlp@epoch10")
    assert Source.parse("raw").is_raw and not snap.is_raw
    assert Source.of("seed_mlp@epoch10", "hidden2") == snap
    assert MapName.parse("tsne_p40@first10000") == MapName("tsne_p40", "first10000")
    assert str(MapName.parse("umap")) == "umap" and MapName.parse("umap").subset is None


def test_the_default_plan_resolves_each_map_once(default):
    # every map of every study, each with its reducer class and graph; a variant's own graph
    assert set(default.map_names) >= {"pca", "tsne", "umap", "trimap", "pacmap"}
    for name, m in default.maps.items():
        assert MapName.parse(name).reducer == m.reducer and m.method == m.cls.name
        assert m.settings == (m.entry if m.subset is None else {**m.entry, "fit_subset": m.subset})
    assert default.maps["pca"].graph_size is None  # PCA reads no graph
    assert default.maps["umap"].graph_size == ""  # the base graph
    assert default.aligned_maps and all(default.maps[m].method == "umap" for m in default.aligned_maps)
    assert all(default.maps[m].subset is None for m in default.aligned_maps)


def test_every_study_target_is_a_default_target(default):
    final = default.final_targets()
    assert len(final) == len(set(final))
    for name in default.studies:
        targets = default.study_targets(name)
        assert set(targets) <= set(final), name
        # per-model pictures come from the path table's marked methods
        assert any(t.endswith("/training_curves.png") for t in targets) or not any(
            default.study_models[name].values()
        )
    assert final[-1] == default.paths.summary() and default.paths.knn_summary() in final


def test_sources_are_every_layer_of_every_model_and_snapshot(default):
    names = default.source_names()
    assert names[0] == "raw" and len(names) == len(set(names))
    assert "seed_mlp/hidden2" in names
    for model, epochs in default.snapshots.items():
        assert all(f"{model}@epoch{e}/output" in names for e in epochs)
    for dataset, by_source in default.embedded.items():
        assert set(by_source) <= set(names), dataset


def _tiny(config):
    """One dataset, a two-layer model m and a one-layer model w1 in one study, and a logistic
    regression (no hidden layer) on a 2-D dataset."""
    config["datasets"] = {"mnist": {}, "plane": {"kind": "two_cosines"}}
    config["models"] = {
        "m": {"hidden": [8, 4], "epochs": 2},
        "w1": {"hidden": [3], "epochs": 2},
        "logreg": {"hidden": [], "epochs": 2},
    }
    config["sweeps"] = {}
    config["reducers"] = {"pca": {}, "umap": {}}
    config["studies"] = {
        "s": {"datasets": ["mnist"], "models": ["m", "w1"], "reducers": "all"},
        "p": {
            "datasets": ["mnist", "plane"],
            "models": ["logreg", "m"],
            "reducers": ["pca"],
            "embed": {"raw": False, "layers": "last"},
        },
    }
    config["figures"] = {**config["figures"], "models": ["m", "logreg"], "class_index": 5}


def test_study_figures_follow_what_the_study_trains_and_embeds():
    plan = plan_of(_tiny)
    s = plan.study_figures("s")
    assert len(s) == len(set(s))
    # raw, m's two layers and w1's one, each with pca and umap: 8 maps; grids of the models that
    # get pictures (m); the heatmap; the curves of both models; m's per-model pictures: curves,
    # confusion, inputs, two GIFs, boxplots and PCA of each hidden layer; the summary
    assert len([f for f in s if "/embeddings/" in f]) == 8
    assert "results/mnist/figures/grid_m.png" in s and "results/mnist/figures/grid_w1.png" not in s
    assert (
        "results/studies/s/knn_heatmap_mnist.png" in s and "results/studies/s/training_curves_mnist.png" in s
    )
    assert {f.rsplit("/", 1)[1] for f in s if "/figures/models/m/" in f} == {
        "training_curves.png",
        "confusion.png",
        "input_pair.png",
        "activations_class5.gif",
        "running_mean_class5.gif",
        "boxplots_hidden1.png",
        "boxplots_hidden2.png",
        "pca_hidden1.png",
        "pca_hidden2.png",
    }
    assert s[-1] == "results/studies/s/summary.md" and not any("mnist_vs_fashion" in f for f in s)
    p = plan.study_figures("p")
    # GIFs only where the inputs are images; decision regions only on 2-D data; a model with no
    # hidden layer has neither layer figures nor GIFs
    assert {f.rsplit("/", 1)[1] for f in p if "/plane/figures/models/m/" in f} == {
        "training_curves.png",
        "confusion.png",
        "input_pair.png",
        "decision_regions.png",
        "boxplots_hidden1.png",
        "boxplots_hidden2.png",
        "pca_hidden1.png",
        "pca_hidden2.png",
    }
    assert {f.rsplit("/", 1)[1] for f in p if "/mnist/figures/models/logreg/" in f} == {
        "training_curves.png",
        "confusion.png",
        "input_pair.png",
    }


def test_a_per_model_figure_is_one_marked_method_of_the_path_table():
    """What adding a per-model figure takes: a marked method in layermaps.paths (and the rule that
    makes its file): the plan lists it for every model that gets pictures."""
    plan = plan_of(_tiny)
    per_model = [n for n in MODEL_FIGURES]
    assert per_model[:3] == ["training_curves", "confusion", "input_pair"]
    files = plan.model_figures("mnist", "m")
    assert len(files) == 9 and all(f.startswith("results/mnist/figures/models/m/") for f in files)
    assert Paths("results").decision_regions("plane", "m") in plan.model_figures("plane", "m")
    assert Paths("results").decision_regions("mnist", "m") not in files


def test_the_comparison_figure_needs_both_datasets_of_the_question():
    def both(config):
        _tiny(config)
        config["datasets"] = {"mnist": {}, "fashion-mnist": {}}
        config["studies"] = {"s": {"models": ["m"], "reducers": ["pca"]}}

    plan = plan_of(both)
    assert "results/studies/s/knn_mnist_vs_fashion.png" in plan.study_figures("s")
    assert list(plan.compared_scores("s")["mnist"]) == ["raw", "m/hidden1", "m/hidden2"]


def test_inputs_of_a_snapshot_source_nest_under_its_model():
    plan = plan_of()
    model, epochs = next(iter(plan.snapshots.items()))
    inputs = plan.source_inputs("mnist", f"{model}@epoch{epochs[0]}/hidden1")
    assert inputs["parent_run"] == plan.paths.model_file("mnist", model, "run_id")
    assert inputs["train"].endswith(f"/activations/{model}@epoch{epochs[0]}/hidden1_train.npy")
    assert plan.source_inputs("mnist", "raw")["parent_run"] == plan.paths.data_run("mnist")


def test_a_mistake_the_schema_cannot_see_is_one_config_error():
    with pytest.raises(ConfigError, match="figures.models names unknown model"):
        plan_of(lambda c: c["figures"].update(models=["nope"]))


def test_snapshot_figures_one_grid_per_map_one_animation_per_layer_and_aligned_map():
    def snapshots(config):
        _tiny(config)
        config["models"]["m"]["snapshots"] = ["first", "last"]
        config["studies"] = {
            "training": {
                "datasets": ["mnist"],
                "models": ["m"],
                "reducers": ["umap", "pca"],
                "embed": {"raw": False, "layers": ["hidden2", "output"], "snapshots": True},
            }
        }

    plan = plan_of(snapshots)
    assert plan.study_sources["training"]["mnist"] == {
        s: ["pca", "umap"]
        for s in ("m@epoch1/hidden2", "m@epoch1/output", "m@epoch2/hidden2", "m@epoch2/output")
    }
    out = plan.snapshot_figures("training", "mnist", plan.study_sources["training"]["mnist"])
    assert out == [
        "results/mnist/figures/models/m/snapshots_pca.png",
        "results/mnist/figures/models/m/snapshots_umap.png",
        "results/mnist/figures/models/m/snapshots_hidden2_umap.gif",
        "results/mnist/figures/models/m/snapshots_output_umap.gif",
        "results/studies/training/knn_over_training_mnist.png",
    ]
    assert plan.snapshot_cells("mnist", "m", "umap") == [
        ["hidden2", 1],
        ["hidden2", 2],
        ["output", 1],
        ["output", 2],
    ]
    assert plan.snapshot_sources("mnist", "m", "output") == ["m@epoch1/output", "m@epoch2/output"]
    # the rules' inputs, in the order of the cells they draw
    grid = plan.snapshot_grid_inputs("mnist", "m", "umap")
    assert grid["scores"] == [
        plan.paths.score("mnist", s, "umap")
        for s in ("m@epoch1/hidden2", "m@epoch2/hidden2", "m@epoch1/output", "m@epoch2/output")
    ]
    assert [Path(e).parent.name for e in grid["embeddings"]] == ["hidden2", "hidden2", "output", "output"]
    frames = plan.animation_inputs("mnist", "m", "output", "umap")
    assert frames["first"] == plan.paths.embedding("mnist", "m@epoch1/output", "umap")
    assert frames["test"] == [plan.paths.source_array("mnist", f"m@epoch{e}/output", "test") for e in (1, 2)]


def test_wildcard_constraints_match_exactly_the_planned_names(default):
    import re

    patterns = default.wildcard_constraints()
    for name in ("mnist", "fashion-mnist"):
        assert re.fullmatch(patterns["dataset"], name)
    assert not re.fullmatch(patterns["dataset"], "mnist2")
    assert all(re.fullmatch(patterns["source"], s) for s in default.source_names())
    assert not re.fullmatch(patterns["source"], "raw/hidden1")
    assert re.fullmatch(patterns["size"], "k120x25")
    empty = plan_of(lambda c: c.update(studies={}))  # no study: a pattern that matches nothing
    assert empty.studies == {} or not re.fullmatch(empty.wildcard_constraints()["study"], "")


def test_settings_the_rules_pass_on_come_from_the_config(default):
    fig = default.config["figures"]
    assert default.style("dpi", fps="gif_fps") == {"dpi": fig["dpi"], "fps": fig["gif_fps"]}
    assert default.k_shown == {"k": default.figures.k, "k_note": default.figures.k_note}
    assert default.summary_settings["k"] == default.config["knn"]["k"]
    assert default.validation_fraction("mnist") == default.config["data"]["validation_fraction"]
    # prepare's memory: never below the floor, and more for a larger floor
    assert default.prepare_mem_mb("mnist", 1000) >= 1000
    assert default.prepare_mem_mb("mnist", 9000) == 9000
    cells = default.grid_cells("mnist", "seed_mlp")
    assert default.grid_inputs("mnist", "seed_mlp")["scores"] == [
        default.paths.score("mnist", s, r) for s, r in cells
    ]
    arrays = default.source_arrays("mnist", "raw")
    assert set(arrays) == {"train", "test", "data"}


def test_layer_measures_are_planned_for_the_measured_studies(default):
    at = default.paths
    files = default.study_targets("hidden_layers")
    assert at.source_measures("mnist", "seed_mlp/hidden2") in files
    assert at.map_measures("mnist", "raw", "tsne") in files
    assert at.model_cka("mnist", "seed_mlp") in files and at.cka_figure("mnist", "seed_mlp") in files
    assert at.layer_profile("hidden_layers", "mnist") in files
    assert default.cka_sources("seed_mlp") == [
        "raw",
        "seed_mlp/hidden1",
        "seed_mlp/hidden2",
        "seed_mlp/output",
    ]
    assert default.depths(default.profile_plan("hidden_layers", "mnist")) == {
        "raw": 0,
        "seed_mlp/hidden1": 1,
        "seed_mlp/hidden2": 2,
    }
    assert at.measures_table() in default.final_targets()
    assert all(f.endswith(".json") for f in default.measure_records())
    # a study left out of `measures.studies` gets none of them, and the settings reach the rules
    only = plan_of(lambda c: c["measures"].update(studies=["workshop"], map_k=7))
    assert at.source_measures("mnist", "seed_mlp/hidden2") not in only.study_targets("hidden_layers")
    assert only.measure_settings("map") == {"seed": 0, "map_rows": 10000, "map_k": 7, "triplets_per_row": 5}


def test_study_cka_compares_seeds_models_and_snapshots(default):
    msds = default.study_cka_plan("msds", "mnist")
    assert msds["seeds"]["msds_w128"] == [
        f"msds_w128{s}" for s in ("", "_seed2", "_seed3", "_seed4", "_seed5")
    ]
    assert "msds_w128_seed2" not in msds["across"]["hidden2"] and "msds_512x512" in msds["across"]["hidden2"]
    assert msds["values"]["msds_w5"] == 5
    arrays = default.study_cka_arrays("msds", "mnist")
    assert arrays["msds_w1/hidden1"] == default.paths.source_array("mnist", "msds_w1/hidden1", "test")
    # the later repeats' layers: computed by the CKA job from their models, never extracted
    assert not [s for s in arrays if "_seed" in s]
    models = default.study_cka_models("msds", "mnist")
    assert len(models) == 24 and models["msds_w1_seed3"] == default.paths.model("mnist", "msds_w1_seed3")
    assert default.study_cka_models("hidden_layers", "mnist") == {}
    training = default.study_cka_plan("over_training", "fashion-mnist")
    assert training["snapshots"] == {"seed_mlp": [1, 10, 20], "sit744_base": [1, 10, 20]}
    assert "seed_mlp@epoch10/hidden2" in default.study_cka_arrays("over_training", "fashion-mnist")
    assert default.study_cka_files("hidden_layers") == [
        default.paths.layer_profile("hidden_layers", "mnist"),
        default.paths.layer_profile("hidden_layers", "fashion-mnist"),
    ]


def test_an_unknown_measured_study_is_one_config_error():
    with pytest.raises(ConfigError, match=r"measures.studies names unknown studies \['nope'\]"):
        plan_of(lambda c: c["measures"].update(studies=["nope"]))


def test_a_job_s_rows_follow_its_dataset_subsample_snapshot_and_fit_subset(default, tmp_path):
    """Plan.job_rows: what the requests that grow with rows (layermaps.resources) scale by."""
    from types import SimpleNamespace as wc

    from test_config import _declaring

    assert default.job_rows("train", wc(dataset="mnist")) == 60_000
    assert default.job_rows("activations", wc(dataset="mnist_pca154")) == 60_000  # its parent's rows
    layer, snapshot = "seed_mlp/hidden2", "seed_mlp@epoch10/hidden2"
    assert default.job_rows("neighbors", wc(dataset="mnist", source=layer)) == 60_000
    assert default.job_rows("ceiling", wc(dataset="mnist", source=snapshot)) == 12_000  # a stratified 20 %
    assert default.job_rows("embed", wc(dataset="mnist", source=layer, reducer="umap")) == 60_000
    assert (
        default.job_rows("score", wc(dataset="mnist", source=layer, reducer="tsne_p40@first10000")) == 10_000
    )
    assert (
        default.job_rows("embed", wc(dataset="mnist", source=layer, reducer="tsne@stratified0.2-seed42"))
        == 12_000
    )
    # a subsample, and a dataset of one's own: the rows its file declares
    _declaring(300_000, 784, "|u1")(tmp_path / "big.npz")
    own = plan_of(
        datasets={
            **DEFAULT["datasets"],
            "big": {"kind": "npz", "path": str(tmp_path / "big.npz"), "scale": "255"},
        }
    )
    assert own.job_rows("train", wc(dataset="big")) == 300_000
    fewer = plan_of(data={**DEFAULT["data"], "subsample": {"train": 1000}})
    assert fewer.job_rows("activations", wc(dataset="mnist")) == 1000
    assert own.job_rows("embed", wc(dataset="big", source="raw", reducer="tsne_p40@first10000")) == 10_000
