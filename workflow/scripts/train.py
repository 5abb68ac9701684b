"""Train one model on one dataset (tracked)."""

from layermaps.tracking.jobs import tracked_job

w, model = snakemake.wildcards, snakemake.params.model  # a model with snapshots has its own rule
with tracked_job(snakemake, dataset=w.dataset, run_name=f"train {model}"):
    import mlflow

    from layermaps.models.spec import repeat_groups
    from layermaps.models.stage import train_job
    from layermaps.studies import split_model_datasets

    # A repeat (`repeats:`) is tagged with its first model: group or filter the runs by it.
    # Read from the config, not params: a tag never changes a result, so it must not rerun.
    groups = repeat_groups(
        *split_model_datasets(snakemake.config["models"], snakemake.config.get("sweeps"))[:2]
    )
    first = next((f for f, names in groups.items() if model in names), None)
    if first:
        mlflow.set_tags({"repeat_of": first, "seed": str(snakemake.params.spec["seed"])})
    snapshots = dict(zip(snakemake.params.spec.get("snapshots", []), snakemake.output.get("snapshots", [])))
    train_job(
        dataset=w.dataset,
        model_name=model,
        spec=snakemake.params.spec,
        data_path=snakemake.input.data,
        threads=snakemake.params.threads,
        out=dict(snakemake.output.items()),
        snapshots=snapshots,
    )
