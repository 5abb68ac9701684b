"""kNN accuracy of one source in its unreduced space (tracked)."""

from layermaps.tracking.jobs import tracked_job

w = snakemake.wildcards
with tracked_job(snakemake, dataset=w.dataset, run_name=f"unreduced {w.source}"):
    from layermaps.embed.stage import ceiling_job

    ceiling_job(
        dataset=w.dataset,
        source=w.source,
        ks=snakemake.params.k,
        train_path=snakemake.input.train,
        test_path=snakemake.input.test,
        data_path=snakemake.input.data,
        out_path=snakemake.output.scores,
    )
