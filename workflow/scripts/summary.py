"""Gather every score of a dataset into knn_summary.csv (tracked)."""

from layermaps.embed.stage import summary_rows, write_csv
from layermaps.tracking import runlog
from layermaps.tracking.jobs import tracked_job
from layermaps.tracking.worktime import work

with tracked_job(snakemake, dataset=snakemake.wildcards.dataset, run_name="knn summary"):
    with work("tables"):
        write_csv(snakemake.output.csv, summary_rows(snakemake.input.scores))
    runlog.log_artifacts(snakemake.output.csv)
