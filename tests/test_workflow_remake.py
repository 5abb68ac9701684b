"""README "Outputs": a figure, summary.md or the map explorer deleted from a finished run is made
again by the next run, by its own job alone, through the real snakemake CLI (a copy of the
session's figures run: conftest `figures_run`)."""

import re
import shutil

import pytest
from conftest import snakemake

pytestmark = pytest.mark.workflow

FIGURE = "results/mnist/figures/embeddings/msds_w16/hidden2/pca.png"
SUMMARY = "results/summary.md"
EXPLORER = "results/studies/all/explorer.html"
BOOKKEEPING = ("results/logs/", "results/.layermaps/", "results/mlflow.db", "results/mlartifacts/")


def job_counts(text: str) -> dict[str, int]:
    """Snakemake's "Job stats" table: rule -> number of jobs."""
    table = text[text.index("Job stats:") :]
    counts = re.findall(r"^(\w+)\s+(\d+)$", table, re.M)
    return {rule: int(n) for rule, n in counts if rule != "total"}


def files(work) -> dict[str, int]:
    """Every result file -> its modification time (ns), Snakemake's and MLflow's own left out."""
    found = {p.relative_to(work).as_posix(): p for p in (work / "results").rglob("*") if p.is_file()}
    return {name: p.stat().st_mtime_ns for name, p in found.items() if not name.startswith(BOOKKEEPING)}


def test_a_deleted_figure_summary_or_explorer_is_made_again_alone(figures_run, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(figures_run[0], work, symlinks=True)  # modification times kept
    figure = (work / FIGURE).read_bytes()
    summary = (work / SUMMARY).read_text()
    explorer = (work / EXPLORER).read_bytes()
    before = files(work)
    for name in (FIGURE, SUMMARY, EXPLORER):
        (work / name).unlink()
    out = snakemake(work, "--cores", "2")
    text = out.stdout + out.stderr
    assert job_counts(text) == {"all": 1, "plot_embedding": 1, "plot_explorer": 1, "report_summary": 1}, text[
        -3000:
    ]
    assert (work / FIGURE).read_bytes() == figure  # the same inputs: the same picture
    assert (work / SUMMARY).read_text() == summary
    assert (work / EXPLORER).read_bytes() == explorer  # byte-identical (issue 29, item 7)
    after = files(work)
    assert after.keys() == before.keys()
    remade = {name for name in before if after[name] != before[name]}
    # nothing else was written but the MLflow run id that a remade file's job keeps beside it
    assert {FIGURE, SUMMARY, EXPLORER} <= remade, sorted(remade)
    others = remade - {FIGURE, SUMMARY, EXPLORER}
    assert all(name.endswith("run_id") for name in others), sorted(remade)
    assert "Nothing to be done" in snakemake(work, "-n").stdout
