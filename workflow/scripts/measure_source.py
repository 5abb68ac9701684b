"""A source's linear probe and intrinsic dimension (added to its unreduced ceiling's run)."""

from layermaps.tracking.jobs import tracked_job

w = snakemake.wildcards
with tracked_job(snakemake, dataset=w.dataset):
    from layermaps.measures.stage import source_measures_job

    source_measures_job(
        dataset=w.dataset,
        source=w.source,
        settings=dict(snakemake.params.settings),
        train_path=snakemake.input.train,
        test_path=snakemake.input.test,
        data_path=snakemake.input.data,
        out_path=snakemake.output.measures,
    )
