"""How runs read in the MLflow UI (layermaps.tracking.display): names with what tells a run
apart first, tags by meaning, trainings at the top level."""

import json

import pytest

from layermaps.tracking import display


@pytest.mark.parametrize(
    "rule,wildcards,params,name",
    [
        ("download", {"dataset": "mnist"}, {}, "download"),
        ("prepare", {"dataset": "mnist"}, {}, "data split"),
        ("train", {"dataset": "mnist", "model": "msds_w2"}, {}, "msds_w2 training"),
        ("train_seed_mlp", {"dataset": "mnist"}, {"model": "seed_mlp"}, "seed_mlp training"),
        ("activations_seed_mlp", {"dataset": "mnist"}, {"model": "seed_mlp"}, "activations seed_mlp"),
        (
            "snapshot_activations_seed_mlp",
            {"dataset": "mnist", "epoch": "10"},
            {},
            "activations seed_mlp@epoch10",
        ),
        (
            "embed",
            {"dataset": "mnist", "source": "seed_mlp/hidden2", "reducer": "umap"},
            {},
            "umap seed_mlp/hidden2",
        ),
        ("ceiling", {"dataset": "mnist", "source": "raw"}, {}, "unreduced raw"),
        ("plot_knn_heatmap", {"dataset": "mnist", "study": "msds"}, {}, "knn heatmap msds"),
        ("study_summary", {"study": "msds"}, {}, "summary msds"),
        ("report_summary", {}, {}, "summary"),
        ("some_new_rule", {"dataset": "mnist"}, {}, "some new rule mnist"),
    ],
)
def test_run_names_put_what_tells_siblings_apart_first(rule, wildcards, params, name):
    assert display.run_name(rule, wildcards, params) == name
    assert not any(c in name for c in "[]=")  # no job keys


def test_tags_are_named_by_meaning_with_the_studies_of_a_source(monkeypatch):
    index = display.study_index(
        {"hidden_layers": {"mnist": ["seed_mlp"]}, "over_training": {"mnist": ["seed_mlp"]}},
        {
            "hidden_layers": {"mnist": {"raw": ["umap"], "seed_mlp/hidden2": ["umap"]}},
            "over_training": {"mnist": {"seed_mlp@epoch10/hidden2": ["umap"]}},
        },
    )
    monkeypatch.setenv(display.STUDY_INDEX_ENV, json.dumps(index))
    tags = display.person_tags(
        "embed", {"dataset": "mnist", "source": "seed_mlp@epoch10/hidden2", "reducer": "umap"}
    )
    assert tags == {
        "dataset": "mnist",
        "source": "seed_mlp@epoch10/hidden2",
        "model": "seed_mlp",
        "layer": "hidden2",
        "epoch": "10",
        "reducer": "umap",
        "study": "over_training",
    }
    assert (
        display.person_tags("train_seed_mlp", {"dataset": "mnist"}, {"model": "seed_mlp"})["study"]
        == "hidden_layers,over_training"
    )
    assert display.person_tags("ceiling", {"dataset": "mnist", "source": "raw"})["reducer"] == "unreduced"
    assert display.is_top_level("train_seed_mlp") and display.is_top_level("train")
    assert not display.is_top_level("embed")
