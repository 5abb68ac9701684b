"""Gather every score of a dataset into knn_summary.csv (tracked)."""

import mlflow

from layermaps.embed_stage import summary_rows, write_csv
from layermaps.smk import tracked_job

with tracked_job(snakemake, dataset=snakemake.wildcards.dataset, run_name="knn summary"):
    write_csv(snakemake.output.csv, summary_rows(snakemake.input.scores))
    mlflow.log_artifact(snakemake.output.csv)
