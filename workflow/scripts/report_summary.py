"""results/summary.md: kNN, model and sweep tables next to the seeds' numbers (a run in the
summary experiment, with summary.md as its artifact)."""

from layermaps.smk import tracked_job

p = snakemake.params
with tracked_job(snakemake, dataset="summary", run_name="summary.md"):
    import mlflow

    from layermaps.summary_report import write_summary

    write_summary(snakemake.output.summary, datasets=list(p.datasets),
                  score_paths=list(snakemake.input.scores), metrics_paths=list(snakemake.input.metrics),
                  hidden=dict(p.hidden), sweeps=dict(p.sweeps), sources=list(p.sources),
                  reducers=list(p.reducers), ks=list(p.k), k_sweep=p.k_sweep)
    mlflow.log_artifact(snakemake.output.summary)
