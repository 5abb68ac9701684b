"""Repeats: a model or a sweep trained once per seed, planned from the config alone."""

import math

import numpy as np
import pytest

from layermaps.embed.records import Score
from layermaps.figures import plots
from layermaps.figures.summary import COLLAPSED, repeats_section, spread
from layermaps.models.spec import ModelSpecError, all_models, repeat_groups
from layermaps.planning import figure_models, sweep_plan
from layermaps.studies import (
    later_repeats,
    read_studies,
    split_model_datasets,
    study_sources,
    trained_models,
)

SWEEP = {
    "base": {"hidden": [8, 8], "seed": 1},
    "vary": {"hidden[1]": [1, 2]},
    "name": "w{value}",
    "repeats": 3,
    "datasets": ["mnist"],
}
CONFIG = {
    "reducers": {"pca": {}},
    "embed": {"raw": False, "models": "all", "layers": "last"},
    "models": {"m": {"hidden": [4], "seed": 7, "repeats": [7, 11]}, "plain": {"hidden": [4]}},
    "sweeps": {"msds": SWEEP},
    "studies": {
        "a": {"datasets": ["mnist", "fashion"], "models": ["msds", "m", "plain"]},
        "b": {"datasets": ["mnist"], "models": ["msds"], "embed": {"repeats": "all"}},
    },
}


def plan(config=CONFIG):
    models, sweeps, allowed = split_model_datasets(config["models"], config["sweeps"])
    specs, groups = all_models(models, sweeps), repeat_groups(models, sweeps)
    studies = read_studies(config, ["mnist", "fashion"], specs, sweeps, allowed, groups)
    trained = trained_models(studies, allowed, sweeps, groups)
    sources = {n: study_sources(s, trained, specs, ["pca"], groups) for n, s in studies.items()}
    return specs, groups, studies, trained, sources


def test_repeats_expand_to_models_that_differ_only_in_the_seed():
    specs, groups, *_ = plan()
    assert list(specs) == [
        "m",
        "m_seed11",
        "plain",
        "w1",
        "w1_seed2",
        "w1_seed3",
        "w2",
        "w2_seed2",
        "w2_seed3",
    ]
    assert [specs[n]["seed"] for n in ("w1", "w1_seed2", "w1_seed3", "m", "m_seed11")] == [1, 2, 3, 7, 11]
    assert {k: v for k, v in specs["w2_seed3"].items() if k != "seed"} == {
        k: v for k, v in specs["w2"].items() if k != "seed"
    }
    assert groups == {
        "m": ["m", "m_seed11"],
        "w1": ["w1", "w1_seed2", "w1_seed3"],
        "w2": ["w2", "w2_seed2", "w2_seed3"],
    }
    assert later_repeats(groups) == {"m_seed11", "w1_seed2", "w1_seed3", "w2_seed2", "w2_seed3"}
    assert figure_models("all", specs, later_repeats(groups)) == ["m", "plain", "w1", "w2"]


def test_repeats_train_where_their_first_may_and_embed_the_first_unless_all():
    _, _, studies, trained, sources = plan()
    # the sweep's repeats inherit its datasets (MNIST only); the model's its own (any)
    assert trained["fashion"] == ["m", "m_seed11", "plain"]
    assert trained["mnist"][:6] == ["w1", "w1_seed2", "w1_seed3", "w2", "w2_seed2", "w2_seed3"]
    assert list(sources["a"]["mnist"]) == ["w1/hidden2", "w2/hidden2", "m/hidden1", "plain/hidden1"]
    assert list(sources["b"]["mnist"]) == [
        f"{w}/hidden2" for w in ("w1", "w1_seed2", "w1_seed3", "w2", "w2_seed2", "w2_seed3")
    ]
    with pytest.raises(ValueError, match=r"studies\.b\.embed\.repeats = 'some'"):
        plan({**CONFIG, "studies": {"b": {"models": ["msds"], "embed": {"repeats": "some"}}}})


def test_a_sweeps_plan_lists_each_values_repeats():
    members = sweep_plan("msds", {k: v for k, v in SWEEP.items() if k != "datasets"})["members"]
    assert [(m["value"], m["model"], m["layer"], m["repeats"]) for m in members] == [
        (1, "w1", "hidden2", ["w1", "w1_seed2", "w1_seed3"]),
        (2, "w2", "hidden2", ["w2", "w2_seed2", "w2_seed3"]),
    ]
    plain = sweep_plan("s", {"base": {"hidden": [8]}, "vary": {"hidden[0]": [3]}})["members"]
    assert plain[0]["repeats"] == ["s_3"]


@pytest.mark.parametrize(
    "repeats, message",
    [
        (0, "at least 1"),
        ([], "a list of different seeds"),
        ([1, 1], "a list of different seeds"),
        ([1, -2], "a list of different seeds"),
        ("five", "a number of repeats"),
        (True, "a number of repeats"),
    ],
)
def test_bad_repeats_are_refused_naming_the_key(repeats, message):
    with pytest.raises(ModelSpecError, match=rf"models\.m\.repeats = .*{message}"):
        all_models({"m": {"hidden": [4], "repeats": repeats}}, {})
    with pytest.raises(ModelSpecError, match=rf"sweeps\.s\.repeats = .*{message}"):
        all_models({}, {"s": {"base": {"hidden": [4]}, "vary": {"seed": [1]}, "repeats": repeats}})


def test_a_repeat_name_taken_by_another_model_is_refused():
    with pytest.raises(ModelSpecError, match="'m_seed2' is already used"):
        all_models({"m": {"hidden": [4], "repeats": 2}, "m_seed2": {"hidden": [2]}}, {})


def test_spread_is_the_hand_computation():
    st = spread([0.9, 0.8, float("nan"), 0.7, None])
    assert st["n"] == 3 and st["min"] == 0.7 and st["max"] == 0.9
    assert st["mean"] == pytest.approx(0.8)
    assert st["sd"] == pytest.approx(math.sqrt(((0.1) ** 2 + 0 + (0.1) ** 2) / 2))  # sample sd: 0.1
    assert spread([0.5])["sd"] is None and spread([])["n"] == 0


def score(source, reducer, acc):
    model, layer = source.split("/")
    return Score(
        dataset="mnist",
        source=source,
        model=model,
        layer=layer,
        reducer=reducer,
        protocol="inductive",
        policy="fit",
        knn={"k5": {"k": 5, "accuracy": acc, "per_class": {}}},
        trustworthiness=0.9,
        fit_seconds=1.0,
        transform_seconds=0.1,
    )


def test_the_repeats_tables_on_a_tiny_case():
    groups = {"w2": ["w2", "w2_seed2", "w2_seed3"], "m": ["m", "m_seed11"]}
    metrics = {
        "w2": {"test_accuracy": 0.11},
        "w2_seed2": {"test_accuracy": 0.84},
        "w2_seed3": {"test_accuracy": 0.80},
        "m": {"test_accuracy": 0.9},
    }  # m_seed11 not run yet
    scores = [
        score("w2/hidden2", "pca", 0.5),
        score("w2_seed2/hidden2", "pca", 0.7),
        score("m/hidden1", "pca", 0.9),
    ]
    text = "\n".join(repeats_section("mnist", groups, metrics, scores, 5))
    # mean 0.5833, sd sqrt(((0.11-0.5833)^2 + (0.84-0.5833)^2 + (0.80-0.5833)^2) / 2) = 0.4104
    assert ("| w2 | 3 of 3 | 0.5833 | 0.4104 | 0.1100 | 0.8400 | 1 of 3 |") in text
    assert "| m | 1 of 2 | 0.9000 | - | 0.9000 | 0.9000 | 0 of 1 |" in text
    assert f"collapsed (test acc. < {COLLAPSED:g})" in text
    assert "| w2/hidden2 | pca | 2 | 0.6000 | 0.1414 | 0.5000 | 0.7000 |" in text
    assert "m/hidden1" not in text  # one embedded repeat: no spread to show


def test_the_sweep_figure_draws_each_repeat_and_its_spread(tmp_path):
    acc = {"test": [[0.11, 0.84, 0.80], [0.97, 0.98, 0.975]], "train": [[0.1, 0.9, 0.8], [0.99] * 3]}
    fig = plots.sweep_figure([2, 128], "hidden[1]", acc, {"pca": [[0.5, 0.7], [0.6]]}, "t", knn_label="kNN")
    left, right = fig.axes
    assert len(left.collections) >= 2 * 2  # per split: the repeats' dots and the error bars
    dots = [c for c in left.collections if c.get_offsets().shape[0] == 6]
    assert dots and sorted(np.asarray(dots[0].get_offsets())[:, 1].round(3).tolist())[:3] == [0.11, 0.8, 0.84]
    line = [l for l in left.lines if l.get_label() == "test"][0]
    assert line.get_ydata().tolist() == pytest.approx([np.mean([0.11, 0.84, 0.80]), 0.975])
    assert "each repeat" in left.get_title()
    plots.save_figure(fig, tmp_path / "s.png", 40, tight=False)
