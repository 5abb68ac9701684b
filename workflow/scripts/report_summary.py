"""results/summary.md: kNN, model and sweep tables next to the seeds' numbers (a run in the
summary experiment, with summary.md as its artifact)."""

import os

from layermaps.tracking import runlog
from layermaps.tracking.jobs import tracked_job
from layermaps.tracking.worktime import work

p = snakemake.params
study = getattr(snakemake.wildcards, "study", None)
with tracked_job(snakemake, dataset="summary", run_name=f"{study} summary.md" if study else "summary.md"):
    from layermaps.figures.summary import write_summary

    # each study's map explorer and compare page, linked relative to summary.md
    # (results/studies/{study}/explorer.html, compare.html)
    here = os.path.dirname(snakemake.output.summary)
    explorers, compare_pages = (
        {os.path.basename(os.path.dirname(e)): os.path.relpath(e, here) for e in pages}
        for pages in (snakemake.input.explorers, snakemake.input.compare_pages)
    )
    with work("tables"):
        write_summary(
            snakemake.output.summary,
            studies=list(p.studies),
            score_paths=list(snakemake.input.scores),
            metrics_paths=list(snakemake.input.metrics),
            hidden=dict(p.hidden),
            sweeps=dict(p.sweeps),
            ks=list(p.k),
            k_sweep=p.k_sweep,
            notes=list(p.notes),
            explorers=explorers,
            compare_pages=compare_pages,
            measure_paths=list(snakemake.input.measures),
        )
    runlog.log_artifacts(snakemake.output.summary)
    # the compare page beside its explorer: each links the other by its file name
    runlog.log_artifacts(*snakemake.input.explorers, *snakemake.input.compare_pages, artifact_path="explorer")
