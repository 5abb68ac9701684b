"""Studies through the real snakemake CLI: a study's target rule plans that study and nothing
else, a model two studies share is trained once, a misnamed study is refused, and writing a
completed run's experiment as studies recomputes no model, embedding or score."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import TINY_CONFIG, TINY_TARGETS, dry_run_jobs, planned_jobs, snakemake, write_config

from layermaps.scheduling import UPSTREAM

pytestmark = pytest.mark.workflow

STUDIES = {
    "digits": {
        "datasets": ["mnist"],
        "models": ["seed_mlp", "shared"],
        "reducers": ["pca"],
        "embed": {"layers": "last"},
    },
    "curves": {
        "datasets": ["two_cosines", "mnist"],
        "models": ["logreg", "shared"],
        "reducers": ["umap"],
        "embed": {"raw": False},
    },
}
MODELS = {
    "logreg": {"hidden": [], "epochs": 2, "datasets": ["two_cosines"]},
    "shared": {"hidden": [3], "epochs": 2},
}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("studies")
    path = write_config(
        work,
        datasets={"mnist": None, "two_cosines": {"kind": "two_cosines"}},
        models=MODELS,
        studies=STUDIES,
        data={"subsample": {"train": 600, "test": 200}},
        figures={"models": ["seed_mlp", "logreg"]},
    )
    config = yaml.safe_load(path.read_text())
    config["sweeps"] = {}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return work


def by_rule(jobs, *rules):
    return sorted(w for r, w in jobs if r in rules)


def test_a_study_plans_only_its_own_jobs(work):
    digits, curves, everything = (planned_jobs(work, *t) for t in (["digits"], ["curves"], []))
    assert by_rule(digits, "train") == ["dataset=mnist, model=seed_mlp", "dataset=mnist, model=shared"]
    # shared may train anywhere: on both of curves' datasets; logreg only on its own
    assert by_rule(curves, "train") == [
        "dataset=mnist, model=shared",
        "dataset=two_cosines, model=logreg",
        "dataset=two_cosines, model=shared",
    ]
    # digits: raw pixels and each model's last hidden layer, PCA only; curves: no raw, UMAP only
    assert by_rule(digits, "embed") == [
        f"dataset=mnist, source={s}, reducer=pca" for s in ("raw", "seed_mlp/hidden2", "shared/hidden1")
    ]
    assert by_rule(curves, "embed") == [
        f"dataset={d}, source=shared/hidden1, reducer=umap" for d in ("mnist", "two_cosines")
    ]
    assert not any("two_cosines" in w for r, w in digits)
    assert {r for r, _ in digits} >= {"study_summary", "plot_knn_heatmap", "digits"}
    assert "curves" not in {r for r, _ in digits} and "report_summary" not in {r for r, _ in digits}
    assert ("plot_decision_regions", "dataset=two_cosines, model=logreg") in curves
    # everything: each study's jobs once (the shared model trains once), then summary.md
    assert sorted(everything) == sorted(set(everything))
    assert by_rule(everything, "train") == sorted(set(by_rule(digits, "train") + by_rule(curves, "train")))
    assert {j for j in digits + curves if j[0] not in STUDIES} <= set(everything)
    assert {r for r, _ in everything} >= {"report_summary", "knn_summary_all", "all"}
    assert not [w for r, w in everything if r == "plot_grid" and "shared" in w]  # no pictures asked


def test_a_shared_models_grid_has_the_maps_of_every_study_that_has_it(work, tmp_path):
    """One grid per model and dataset, with the reducers of every study that has the model: a
    study that asks for it also makes the other studies' maps of that model (README)."""
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["figures"]["models"] = "all"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    digits = planned_jobs(tmp_path, "digits")
    assert ("plot_grid", "dataset=mnist, model=shared") in digits
    assert by_rule(digits, "embed")[-1] == "dataset=mnist, source=shared/hidden1, reducer=umap"


def test_a_study_named_like_a_rule_or_unknown_names_are_refused(work, tmp_path):
    config = yaml.safe_load((work / "config.yaml").read_text())
    for studies, message in [
        ({"train": STUDIES["digits"]}, r"studies: train is the name of a rule"),
        ({"s": {**STUDIES["digits"], "models": ["nope"]}}, r"studies\.s\.models: 'nope' is neither"),
        (
            {
                "s": {**STUDIES["digits"], "datasets": ["two_cosines"], "models": ["shared", "seed_mlp"]},
                "t": {"models": ["logreg"], "datasets": ["mnist"]},
            },
            r"studies\.t: model logreg trains on two_cosines only",
        ),
    ]:
        (tmp_path / "config.yaml").write_text(yaml.safe_dump({**config, "studies": studies}))
        out = snakemake(tmp_path, "-n", check=False)
        assert out.returncode != 0
        text = out.stdout + out.stderr
        assert re.search(message, text), text[-2000:]
        assert "Traceback" not in text


def test_writing_a_run_as_studies_recomputes_no_model_or_map(tiny_run_copy):
    """The tiny run (a config without studies) written as two studies: only the study files
    (heatmaps, summaries) and their targets are planned."""
    work = tiny_run_copy
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["studies"] = {
        "seed": {"datasets": ["mnist"], "models": ["seed_mlp"], "embed": {"layers": ["hidden2"]}},
        "widths": {
            "datasets": ["mnist"],
            "models": ["msds"],
            "embed": {"raw": False, "models": ["msds_w1"], "layers": ["hidden2"]},
        },
    }
    assert TINY_CONFIG["embed"]["models"] == ["seed_mlp", "msds_w1"]  # the same maps
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    upstream = {
        "download",
        "prepare",
        "train",
        "raw_activations",
        "neighbors",
        "embed",
        "score",
        "ceiling",
        "knn_summary",
        "knn_summary_all",
    }
    jobs = planned_jobs(work, "seed", "widths", "results/knn_summary.csv")
    assert not [j for j in jobs if j[0] in upstream]
    # no activations: the CKA between seeds computes the second seeds' from their models
    assert not [j for j in jobs if j[0].startswith("activations_")]
    assert ("measure_study_cka", "study=widths, dataset=mnist") in jobs
    # made: the same numbers as from the second seed's extracted test rows, which it never wrote
    from layermaps.measures.cka import linear_cka

    snakemake(work, "--cores", "2", "results/studies/widths/cka_mnist.json")
    seeds = json.loads((work / "results/studies/widths/cka_mnist.json").read_text())["seeds"]["msds_w1"]
    assert set(seeds) == {"hidden1", "hidden2", "output"} and seeds["hidden1"]["cka"]["pairs"] == 1
    acts = work / "results/mnist/activations"
    assert not (acts / "msds_w1_seed2").exists()
    snakemake(work, "--cores", "2", "results/mnist/activations/msds_w1_seed2/run_id")
    first, second = (np.load(acts / m / "hidden1_test.npy") for m in ("msds_w1", "msds_w1_seed2"))
    assert seeds["hidden1"]["cka"]["mean"] == pytest.approx(linear_cka(first, second), abs=1e-6)
    assert ("plot_knn_heatmap", "study=widths, dataset=mnist") in jobs


def test_measured_prices_a_study_from_the_job_records(tiny_run):
    """`measured --studies`: a study's jobs (here the one study of a config without studies),
    matched to the run's job records; the tiny run made its models and scores, not figures."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "layermaps.measured",
            str(tiny_run / "results"),
            "--config",
            str(tiny_run / "config.yaml"),
            "--studies",
            "all",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    row = re.search(r"^\| all \| (\d+) \| (\d+) \| ([\d,]+) \| ([\d.]+) \|$", out, re.M)
    assert row, out
    jobs, recorded, core_s = int(row[1]), int(row[2]), int(row[3].replace(",", ""))
    made = [r for r, _ in planned_jobs(tiny_run, "-F", *TINY_TARGETS)]
    # every job of the tiny run has a record, but knn_summary_all's (a concatenation, untracked)
    assert recorded == len(made) - made.count("knn_summary_all") and jobs > recorded and core_s > 0


def test_quick_covers_every_study_rule_and_reducer(tmp_path):
    """`make quick` (config.yaml merged with workflow/configs/quick.yaml) plans every rule of
    the workflow but the study targets, at least one activations job, and a map of every
    reducer method, on every study."""
    from conftest import REPO

    from layermaps.embed.reducers import REDUCERS

    args = ["--configfile", str(REPO / "config.yaml"), str(REPO / "workflow/configs/quick.yaml")]
    planned = dry_run_jobs(tmp_path, *args)
    jobs = [(j["rule"], j["wildcards"]) for j in planned]
    rules = {rule for rule, _ in jobs}
    listed = snakemake(tmp_path, "--list-rules", *args).stdout.split()
    studies = set(yaml.safe_load((REPO / "config.yaml").read_text())["studies"])
    assert studies <= set(listed)
    per_model = ("activations_", "snapshot_activations_", "train_")  # one rule per model: some suffice
    assert set(listed) - studies - rules == {r for r in listed if r.startswith(per_model)} - rules
    assert all(any(r.startswith(kind) for r in rules) for kind in per_model)
    methods = {w.split("reducer=")[1].split("@")[0].split(",")[0] for r, w in jobs if r == "embed"}
    config = yaml.safe_load((REPO / "config.yaml").read_text())["reducers"]
    assert {config[m].get("method", m) for m in methods} == set(REDUCERS)
    summaries = {w for r, w in jobs if r == "study_summary"}
    assert summaries == {f"study={s}" for s in studies}
    # the start order (layermaps.scheduling): what unlocks work, then the maps, slowest first
    priority = {(j["rule"], j["wildcards"]): j["priority"] for j in planned}
    upstream = ("download", "prepare", "train", "activations_", "raw_activations", "neighbors")
    assert {p for (r, _), p in priority.items() if r.startswith(upstream)} == {UPSTREAM}
    by_method = {
        w.split("reducer=")[1].split("@")[0].split(",")[0]: p
        for (r, w), p in priority.items()
        if r == "embed"
    }
    order = sorted(by_method, key=lambda m: by_method[m])
    assert (
        order.index("pca") < order.index("umap") < order.index("tsne") and max(by_method.values()) < UPSTREAM
    )
    assert {p for (r, _), p in priority.items() if r.startswith(("score", "plot_", "measure"))} == {0}
