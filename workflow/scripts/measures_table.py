"""results/measures.csv: every measure, one tidy row each (no run: each number is logged on the
run it describes)."""

from layermaps.tracking.jobs import tracked_job

with tracked_job(snakemake, dataset="", mlflow=False):
    from layermaps.measures.table import table_job

    table_job(record_paths=list(snakemake.input), out_path=snakemake.output[0])
