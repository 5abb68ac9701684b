"""`python -m layermaps.stale` (make stale) removes only what the workflow made, through the real
CLI: on copies of the shared tiny run, each file that must survive `--remove` lies beside stale
ones that go; refused requests leave everything. Listing and removing a reducer's files and
retiring its runs: tests/test_workflow_rerun.py."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, SHARED_DATA, TINY_CONFIG, TINY_SOURCES, path_without_slurm, write_config
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.workflow

PACMAP = [
    f"results/{kind}/{s}/pacmap.{ext}"
    for s in TINY_SOURCES
    for kind, ext in (
        ("mnist/embeddings", "npz"),
        ("mnist/embeddings", "run_id"),
        ("mnist/scores", "json"),
        ("logs/mnist/embed", "log"),
        ("logs/mnist/score", "log"),
    )
]


def run_stale(work, *args):
    env = dict(os.environ, LAYERMAPS_DATA_MIRROR=f"file://{SHARED_DATA}")
    env["PATH"] = path_without_slurm(env.get("PATH", os.defpath))
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "layermaps.stale", "-s", str(REPO / "Snakefile"), *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def drop_pacmap(work, **changes):
    config = yaml.safe_load((work / "config.yaml").read_text())
    del config["reducers"]["pacmap"]
    config.update(changes)
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def put(path, text="mine\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_remove_deletes_only_files_the_workflow_makes(tiny_run_copy):
    """With a reducer gone and the store set by tracking.store, --remove deletes that reducer's
    files and nothing else: not the store, a report, a user's notes, nor a results folder
    inside this one (quick's, with its own store; one whose runs went to a server)."""
    work = tiny_run_copy
    res = work / "results"
    store = res / "db/runs.db"
    store.parent.mkdir()
    shutil.copy2(res / "mlflow.db", store)
    drop_pacmap(
        work,
        tracking={**yaml.safe_load((work / "config.yaml").read_text())["tracking"], "store": "db/runs.db"},
    )
    shutil.copytree(res / "mnist", res / "quick/mnist")  # pacmap files among them
    shutil.copy2(res / "mlflow.db", res / "quick/mlflow.db")
    shutil.copytree(res / ".layermaps", res / "quick/.layermaps")
    shutil.copytree(res / "mnist", res / "bench/mnist")
    shutil.copytree(res / ".layermaps", res / "bench/.layermaps")  # its runs: on a server
    survivors = [
        store,
        put(res / "report.html", "<html></html>\n"),
        put(res / "notes.md"),
        put(res / "mnist/notes.txt"),
        put(res / "studies/mine/ideas.txt"),
        res / "quick/mnist/embeddings/raw/pacmap.npz",
        res / "quick/mlflow.db",
        res / "bench/mnist/embeddings/raw/pacmap.npz",
        res / "bench/mnist/data.npz",
    ]
    assert all((work / f).exists() for f in PACMAP)

    listed = run_stale(work)
    assert listed.returncode == 0, listed.stderr
    for folder in ("results/bench/", "results/db/", "results/quick/"):
        assert folder in listed.stdout.splitlines()[0]  # "Not looked into: ..."
    assert f"{len(PACMAP)} file(s) in results/" in listed.stdout, listed.stdout
    removed = run_stale(work, "--remove")
    assert removed.returncode == 0, removed.stderr
    assert not any((work / f).exists() for f in PACMAP)
    assert [str(p) for p in survivors if not p.exists()] == []
    assert (res / "mnist/embeddings/raw/umap.npz").exists()
    # the runs retired are those of the configured store
    client = MlflowClient(f"sqlite:///{store}")
    exp = client.get_experiment_by_name("layermaps/mnist")
    assert client.search_runs([exp.experiment_id], "tags.reducer = 'pacmap'") == []
    gone = client.search_runs(
        [exp.experiment_id], "tags.reducer = 'pacmap'", run_view_type=ViewType.DELETED_ONLY
    )
    assert len(gone) == len(TINY_SOURCES)


def test_a_symlinked_results_folder_is_looked_into(tiny_run_copy, tmp_path):
    """results -> a folder elsewhere: its stale files are listed and removed through the link,
    by either name of the folder; a user's file there stays."""
    work = tiny_run_copy
    elsewhere = tmp_path / "disk" / "results"
    elsewhere.parent.mkdir()
    shutil.move(work / "results", elsewhere)
    (work / "results").symlink_to(elsewhere, target_is_directory=True)
    drop_pacmap(work)
    notes = put(elsewhere / "notes.txt")
    listed = run_stale(work, "--results", str(elsewhere))
    assert listed.returncode == 0, listed.stderr
    assert f"{len(PACMAP)} file(s) in results/" in listed.stdout, listed.stdout
    removed = run_stale(work, "--remove")
    assert removed.returncode == 0, removed.stderr
    assert not any((elsewhere / f.removeprefix("results/")).exists() for f in PACMAP)
    assert notes.exists() and (elsewhere / "mnist/embeddings/raw/umap.npz").exists()
    assert (work / "results").is_symlink()


@pytest.mark.parametrize(
    "args, says",
    [
        (["--results", "results/quick"], "--results results/quick is not the config's results_dir"),
        (["--", "results/mnist/data.npz"], "a target results/mnist/data.npz"),
        (["--", "--until", "prepare"], "--until prepare"),
    ],
)
def test_a_request_that_would_call_results_stale_wrongly_is_refused(tmp_path, args, says):
    """Another results folder than the config's, a target or --until (a smaller DAG): one line,
    exit status 1, nothing removed. No run needed: the DAG of the tiny config decides."""
    write_config(tmp_path, **TINY_CONFIG)
    made = [
        put(tmp_path / "results/quick/mnist/embeddings/raw/pacmap.npz"),  # quick's
        put(tmp_path / "results/mnist/embeddings/raw/umap.npz"),
    ]  # outside a smaller DAG
    proc = run_stale(tmp_path, "--remove", *args)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("layermaps: refused: "), proc.stderr
    assert says in lines[0]
    assert all(p.exists() for p in made)


def test_every_output_of_the_default_config_has_a_shape(tmp_path, monkeypatch):
    """What makes a file a candidate (layermaps.stale.output_shapes, from the paths table) covers
    every file the default config's DAG makes or reads under results/ (its studies, snapshots,
    subsets and variants): nothing of the workflow's own is out of its reach."""
    from layermaps.stale import ending, output_shapes, workflow_facts, written_kinds

    shutil.copy2(REPO / "config.yaml", tmp_path / "config.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", path_without_slurm(os.environ.get("PATH", os.defpath)))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    facts = workflow_facts(["-s", str(REPO / "Snakefile")])
    ours = [os.path.relpath(f, tmp_path) for f in facts["used"] if f.startswith(f"{tmp_path}/results/")]
    assert len(ours) > 1000
    shapes = output_shapes("results")
    assert [f for f in ours if not any(s.match(f) for s in shapes)] == []
    assert {ending(f.rsplit("/", 1)[1]) for f in ours} <= written_kinds(facts["patterns"])
