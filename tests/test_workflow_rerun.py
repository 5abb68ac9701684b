"""What reruns, through the real snakemake CLI on copies of the shared tiny run: a code edit
reruns exactly the jobs of that code (and what depends on them), a package version does the
same for its jobs, edits that change no behaviour rerun nothing, threads come from the config
whatever --cores says, plain `snakemake` uses the default profile, names with `+` resolve, and
a rerun leaves one current MLflow run per output."""

import os
import re
import subprocess
import sys

import pytest
from conftest import (
    SNAKEMAKE,
    TINY_CONFIG,
    TINY_SOURCES,
    TINY_TARGETS,
    dry_run_jobs,
    planned_jobs,
    snakemake,
    write_config,
)
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.workflow

UMAP_JOBS = {
    (rule, f"dataset=mnist, source={s}, reducer=umap") for s in TINY_SOURCES for rule in ("embed", "score")
} | {("knn_summary", "dataset=mnist"), ("knn_summary_all", "")}


def edit(path, old, new):
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new))


def test_a_copy_of_the_project_plans_nothing(tiny_run, project_copy):
    """The fingerprints depend on the code, not on where the checkout lies."""
    assert planned_jobs(tiny_run, *TINY_TARGETS, project=project_copy) == []


def test_editing_one_reducer_class_reruns_exactly_its_jobs(tiny_run_copy, project_copy):
    reducers = project_copy / "src/layermaps/embed/reducers.py"
    edit(
        reducers,
        "        return self.model.transform(x)\n\n\nclass PaCMAPReducer",
        "        return self.model.transform(np.asarray(x))\n\n\nclass PaCMAPReducer",
    )
    jobs = planned_jobs(tiny_run_copy, *TINY_TARGETS, project=project_copy)
    assert set(jobs) == UMAP_JOBS and len(jobs) == len(UMAP_JOBS)
    # the README's way to keep results through a change known to alter nothing
    snakemake(tiny_run_copy, "--touch", "--cores", "1", *TINY_TARGETS, project=project_copy)
    assert planned_jobs(tiny_run_copy, *TINY_TARGETS, project=project_copy) == []


def test_edits_that_change_no_behaviour_rerun_nothing(tiny_run_copy, project_copy):
    src = project_copy / "src/layermaps/embed"
    # a comment, reformatting and a docstring in the reducers; the embed script's docstring
    edit(
        src / "reducers.py",
        "        _set_numba_threads(self.n_jobs)\n        umap = _import_umap()\n",
        "        # a comment\n        _set_numba_threads(  self.n_jobs )\n\n        umap = _import_umap()\n",
    )
    edit(src / "reducers.py", '    """openTSNE. The setting', '    """The openTSNE library. The setting')
    edit(project_copy / "workflow/scripts/embed.py", '"""Embed one source', '"""Embeds one source')
    # a helper moved to another module
    text = (src / "reducers.py").read_text()
    helper = re.search(r"\ndef _too_small\(.*?\n\n\n", text, re.S).group(0)
    (src / "reducers.py").write_text(
        text.replace(helper, "\n\n").replace(
            "import numpy as np\n", "import numpy as np\n\nfrom layermaps.checks import _too_small\n", 1
        )
    )
    (src.parent / "checks.py").write_text(f'"""Row-count checks."""\n{helper}')
    assert planned_jobs(tiny_run_copy, *TINY_TARGETS, project=project_copy) == []


def test_a_new_package_version_reruns_its_jobs(tiny_run_copy, tmp_path):
    """A newer umap-learn, as package metadata shows it first on the path, reruns the UMAP
    jobs only (the versions are those of the machine that plans the jobs)."""
    dist = tmp_path / "site" / "umap_learn-99.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: umap-learn\nVersion: 99.0\n")
    jobs = planned_jobs(tiny_run_copy, *TINY_TARGETS, env={"PYTHONPATH": str(dist.parent)})
    assert set(jobs) == UMAP_JOBS and len(jobs) == len(UMAP_JOBS)


def test_threads_come_from_the_config_under_any_cores(tiny_run_copy):
    """The run used --cores 2 (the default threads: train 1, embed 1); --cores 1 gives the same
    counts, so nothing is stale. A new threads.embed reruns the jobs whose results depend on it
    (tests/test_workflow_promises.py: 2 training threads under --cores 1 and 2 agree)."""
    assert planned_jobs(tiny_run_copy, *TINY_TARGETS, "--cores", "1") == []
    write_config(tiny_run_copy, **{**TINY_CONFIG, "threads": {"train": 1, "embed": 2}})
    rules = {rule for rule, _ in planned_jobs(tiny_run_copy, *TINY_TARGETS, "--cores", "2")}
    assert rules == {"embed", "ceiling", "score", "knn_summary", "knn_summary_all"}


def test_config_without_threads_takes_the_documented_default(tmp_path):
    config = write_config(tmp_path, **TINY_CONFIG)
    text = config.read_text()
    config.write_text(re.sub(r"(?m)^threads:\n(  .*\n)+", "", text))
    assert "threads" not in config.read_text()
    threads = {}
    for job in dry_run_jobs(tmp_path, "--cores", "8", *TINY_TARGETS):
        threads.setdefault(job["rule"], set()).add(job["threads"])
    # config.yaml's documented threads: train 1, embed 1
    assert threads["train"] == {1} and threads["embed"] == {1} and threads["ceiling"] == {1}


def test_plain_snakemake_uses_the_default_profile(project_copy):
    """`snakemake -n` in the project folder, no arguments: profiles/default applies."""
    proc = subprocess.run(
        [SNAKEMAKE, "-n"],
        cwd=project_copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Using workflow specific profile profiles/default" in proc.stderr
    assert re.search(r"^total\s+\d{3,4}$", proc.stdout, re.M)  # the full default DAG
    assert not (project_copy / "results").exists()


def test_model_names_with_plus_resolve(tmp_path):
    """A sweep value 1.0e+20 makes the model name lr1e+20: the wildcard pattern escapes it."""
    write_config(
        tmp_path,
        **{
            **TINY_CONFIG,
            "sweeps": {
                "lr": {
                    "base": {"hidden": [8], "epochs": 1},
                    "vary": {"optimizer.learning_rate": [1.0e20, 0.5]},
                    "name": "lr{value}",
                }
            },
        },
    )
    target = "results/mnist/models/lr1e+20/metrics.json"
    jobs = planned_jobs(tmp_path, target, "results/mnist/activations/lr0.5/run_id")
    assert ("train", "dataset=mnist, model=lr1e+20") in jobs
    assert ("activations_lr0.5", "dataset=mnist") in jobs


def test_a_rerun_supersedes_its_mlflow_run(tiny_run_copy):
    work = tiny_run_copy
    run_file = work / "results/mnist/embeddings/raw/pca.run_id"
    old = run_file.read_text().strip()
    snakemake(work, "--cores", "2", *TINY_TARGETS, "--forcerun", "results/mnist/embeddings/raw/pca.npz")
    new = run_file.read_text().strip()
    assert new != old
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")
    exp = client.get_experiment_by_name("layermaps/mnist")
    key = "embed[dataset=mnist][reducer=pca][source=raw]"
    current = client.search_runs([exp.experiment_id], f"tags.`layermaps.job` = '{key}'")
    assert [r.info.run_id for r in current] == [new]
    assert current[0].data.metrics["knn_accuracy_k5"] > 0.3  # the score job added to the new run
    (retired,) = client.search_runs(
        [exp.experiment_id], f"tags.`layermaps.job` = '{key}'", run_view_type=ViewType.DELETED_ONLY
    )
    assert retired.info.run_id == old and retired.data.tags["layermaps.superseded_by"] == new
    # every output has exactly one current run
    active = client.search_runs([exp.experiment_id], max_results=1000)
    keys = [(r.data.tags["layermaps.job"], r.data.tags["layermaps.outputs"]) for r in active]
    assert len(keys) == len(set(keys))


# ---- deleted and broken files, results no config asks for (issue: faults) --------------------
FRAME = re.compile(r'^\s*File ".*", line \d+', re.M)  # a Python traceback frame


def test_a_deleted_model_or_embedding_is_made_again_and_activations_are_intermediate(tiny_run_copy):
    work = tiny_run_copy
    # an activation array is remade only when a job needs it: deleting one plans nothing
    (work / "results/mnist/activations/seed_mlp/hidden1_test.npy").unlink()
    assert planned_jobs(work, *TINY_TARGETS) == []
    train = ("train", "dataset=mnist, model=msds_w2")
    embed = ("embed", "dataset=mnist, source=raw, reducer=pca")
    before = set(planned_jobs(work))
    assert train not in before and embed not in before
    (work / "results/mnist/models/msds_w2/model.keras").unlink()
    (work / "results/mnist/embeddings/raw/pca.npz").unlink()
    assert {train, embed} <= set(planned_jobs(work))


def test_a_corrupt_input_names_the_file_and_the_rule_that_made_it(tiny_run_copy):
    work = tiny_run_copy
    broken = {
        "results/mnist/embeddings/raw/pca.npz": ("score", "results/mnist/scores/raw/pca.json", "embed"),
        "results/mnist/models/seed_mlp/model.keras": (
            "activations_seed_mlp",
            "results/mnist/activations/seed_mlp/run_id",
            "train",
        ),
    }
    for path, (rule, target, maker) in broken.items():
        with open(work / path, "r+b") as f:
            f.truncate(300)
        proc = snakemake(work, "--cores", "1", "--forcerun", rule, "--", target, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert f"{path} cannot be read" in out and f"made by rule '{maker}'" in out, out[-3000:]
        assert "delete it and run snakemake again" in out
        assert "Traceback" not in out and not FRAME.search(out), out[-3000:]


def run_stale(work, *args):
    env = dict(os.environ, LAYERMAPS_DATA_MIRROR=os.environ.get("LAYERMAPS_DATA_MIRROR", ""))
    env.pop("MLFLOW_TRACKING_URI", None)
    from conftest import REPO

    return subprocess.run(
        [sys.executable, "-m", "layermaps.stale", "-s", str(REPO / "Snakefile"), *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_results_no_config_asks_for_are_listed_and_removed_on_request(tiny_run_copy):
    import yaml

    work = tiny_run_copy
    config = yaml.safe_load((work / "config.yaml").read_text())
    del config["reducers"]["pacmap"]  # a reducer leaves the config
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    listed = run_stale(work)
    assert listed.returncode == 0, listed.stderr
    stale = [f"results/mnist/embeddings/{s}/pacmap.npz" for s in TINY_SOURCES]
    assert all((work / f).exists() for f in stale)
    for s in TINY_SOURCES:
        assert f"results/mnist/embeddings/{s}/: pacmap.npz, pacmap.run_id\n" in listed.stdout
        assert f"results/mnist/scores/{s}/: pacmap.json\n" in listed.stdout
    assert "umap" not in listed.stdout and "--remove" in listed.stdout
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")
    exp = client.get_experiment_by_name("layermaps/mnist")
    pacmap = client.search_runs([exp.experiment_id], "tags.reducer = 'pacmap'")
    assert len(pacmap) == len(TINY_SOURCES)
    removed = run_stale(work, "--remove")
    assert removed.returncode == 0, removed.stderr
    assert not any((work / f).exists() for f in stale)
    assert (work / "results/mnist/embeddings/raw/umap.npz").exists()
    assert client.search_runs([exp.experiment_id], "tags.reducer = 'pacmap'") == []
    gone = client.search_runs(
        [exp.experiment_id], "tags.reducer = 'pacmap'", run_view_type=ViewType.DELETED_ONLY
    )
    assert {r.data.tags["layermaps.superseded_by"] for r in gone} == {"removed: no longer in the config"}
    assert "No stale results" in run_stale(work).stdout
    # nothing current was touched: only the tables whose inputs lost pacmap's scores remake
    assert set(planned_jobs(work, *TINY_TARGETS)) == {
        ("knn_summary", "dataset=mnist"),
        ("knn_summary_all", ""),
    }
