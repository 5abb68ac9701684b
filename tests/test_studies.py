"""Studies: what each one trains and embeds, planned from the config alone."""

import pytest

from layermaps.models.spec import all_models
from layermaps.studies import (
    IMPLICIT,
    check_study_names,
    grid_cells,
    merge_sources,
    model_sources,
    read_studies,
    split_model_datasets,
    study_sources,
    trained_models,
)

CONFIG = {
    "reducers": {"pca": {}, "umap": {}, "tsne": {}},
    "embed": {"raw": True, "models": "all", "layers": "all"},
    "models": {
        "seed_mlp": {"hidden": [8, 4]},
        "ws_logreg": {"hidden": [], "datasets": ["two_cosines"]},
        "ws_one": {"hidden": [16], "datasets": ["mnist"]},
    },
    "sweeps": {
        "msds": {
            "base": {"hidden": [8, 8]},
            "vary": {"hidden[1]": [1, 2]},
            "name": "w{value}",
            "datasets": ["mnist"],
        }
    },
    "studies": {
        "hidden_layers": {
            "datasets": ["mnist", "fashion"],
            "models": ["seed_mlp"],
            "reducers": ["umap", "pca"],
        },
        "msds": {
            "datasets": ["mnist", "fashion"],
            "models": ["msds"],
            "embed": {"raw": False},
            "reducers": ["pca"],
        },
        "workshop": {
            "datasets": ["two_cosines", "mnist"],
            "models": ["ws_logreg", "ws_one"],
            "embed": {"raw": True, "layers": ["hidden1"]},
            "reducers": ["tsne"],
        },
    },
}
DATASETS = ["mnist", "fashion", "two_cosines"]


def plan(config=CONFIG):
    models, sweeps, allowed = split_model_datasets(config["models"], config["sweeps"])
    specs = all_models(models, sweeps)
    studies = read_studies(config, DATASETS, specs, sweeps, allowed)
    trained = trained_models(studies, allowed, sweeps)
    per_study = {n: study_sources(s, trained, specs, list(config["reducers"])) for n, s in studies.items()}
    return specs, studies, trained, per_study


def test_models_train_only_where_a_study_and_the_model_allow():
    specs, studies, trained, _ = plan()
    assert "datasets" not in specs["ws_logreg"]  # never part of the training's params
    assert studies["msds"].models == ("w1", "w2") and studies["msds"].sweeps == ("msds",)
    assert trained == {
        "mnist": ["seed_mlp", "w1", "w2", "ws_one"],
        "fashion": ["seed_mlp"],
        "two_cosines": ["ws_logreg"],
    }  # the sweep allows MNIST only


def test_sources_and_reducers_merge_over_studies_in_config_order():
    _, studies, _, per_study = plan()
    assert per_study["msds"] == {
        "mnist": {f"w{w}/hidden{l}": ["pca"] for w in (1, 2) for l in (1, 2)},
        "fashion": {},
    }  # the sweep does not train on fashion
    embeds = merge_sources(per_study, ["pca", "umap", "tsne"])
    assert embeds["mnist"] == {
        "raw": ["pca", "umap", "tsne"],
        "seed_mlp/hidden1": ["pca", "umap"],
        "seed_mlp/hidden2": ["pca", "umap"],
        "w1/hidden1": ["pca"],
        "w1/hidden2": ["pca"],
        "w2/hidden1": ["pca"],
        "w2/hidden2": ["pca"],
        "ws_one/hidden1": ["tsne"],
    }
    assert embeds["two_cosines"] == {"raw": ["tsne"]}  # logistic regression: no hidden layer
    assert list(embeds["fashion"]) == ["raw", "seed_mlp/hidden1", "seed_mlp/hidden2"]
    # a model's grid: raw and its layers as the studies that have the model embed them
    found = model_sources(per_study, studies, "mnist", ["seed_mlp"], ["pca", "umap", "tsne"])
    assert found == {
        "raw": ["pca", "umap"],
        "seed_mlp/hidden1": ["pca", "umap"],
        "seed_mlp/hidden2": ["pca", "umap"],
    }  # workshop's t-SNE of raw is not its
    rows, cols, cells = grid_cells(
        model_sources(per_study, studies, "mnist", ["ws_one"], ["pca", "umap", "tsne"]),
        ["pca", "umap", "tsne"],
    )
    assert rows == ["raw", "ws_one/hidden1"] and cols == ["tsne"] and len(cells) == 2


def test_last_layer_and_inherited_embed_settings():
    config = {
        **CONFIG,
        "embed": {"raw": False, "models": "all", "layers": "last"},
        "studies": {"s": {"models": ["seed_mlp", "ws_one"], "datasets": ["mnist"]}},
    }
    _, studies, _, per_study = plan(config)
    assert studies["s"].raw is False and studies["s"].layers == "last"
    assert per_study["s"]["mnist"] == {
        "seed_mlp/hidden2": ["pca", "umap", "tsne"],
        "ws_one/hidden1": ["pca", "umap", "tsne"],
    }


def test_a_config_without_studies_is_one_study_of_everything():
    config = {k: v for k, v in CONFIG.items() if k != "studies"}
    config["embed"] = {"raw": True, "models": ["seed_mlp"], "layers": ["hidden2"]}
    _, studies, trained, per_study = plan(config)
    assert list(studies) == [IMPLICIT] and trained["fashion"] == ["seed_mlp"]  # the others allow less
    assert trained["mnist"] == ["seed_mlp", "ws_one", "w1", "w2"]
    assert trained["two_cosines"] == ["seed_mlp", "ws_logreg"]
    assert per_study[IMPLICIT]["mnist"] == {
        "raw": ["pca", "umap", "tsne"],
        "seed_mlp/hidden2": ["pca", "umap", "tsne"],
    }


@pytest.mark.parametrize(
    "study, message",
    [
        ({"models": ["nope"]}, r"studies\.s\.models: 'nope' is neither a model nor a sweep"),
        ({"models": ["seed_mlp"], "datasets": ["cifar"]}, r"studies\.s: 'cifar' not configured"),
        ({"models": ["seed_mlp"], "reducers": ["isomap"]}, r"studies\.s: 'isomap' not configured"),
        ({"models": ["ws_one"], "datasets": ["fashion"]}, r"studies\.s: model ws_one trains on mnist only"),
        (
            {"models": ["seed_mlp"], "embed": {"models": ["ws_one"]}},
            r"studies\.s\.embed\.models: ws_one not among",
        ),
    ],
)
def test_studies_naming_what_is_not_configured_are_refused(study, message):
    with pytest.raises(ValueError, match=message):
        plan({**CONFIG, "studies": {"s": study}})


def test_model_datasets_must_be_a_list_and_study_names_not_rules():
    with pytest.raises(ValueError, match=r"models\.m\.datasets = 'mnist': expected a non-empty list"):
        split_model_datasets({"m": {"hidden": [2], "datasets": "mnist"}}, {})
    _, studies, _, _ = plan()
    with pytest.raises(ValueError, match="msds is the name of a rule"):
        check_study_names(studies, ["all", "train", "msds"])
    check_study_names(studies, ["all", "train"])
