"""A map's trustworthiness, continuity, triplet accuracies and neighbourhood hit (added to the
embedding's run)."""

from layermaps.tracking.jobs import tracked_job

w = snakemake.wildcards
with tracked_job(snakemake, dataset=w.dataset):
    from layermaps.measures.stage import map_measures_job

    map_measures_job(
        dataset=w.dataset,
        source=w.source,
        reducer=w.reducer,
        settings=dict(snakemake.params.settings),
        embedding_path=snakemake.input.embedding,
        train_path=snakemake.input.train,
        test_path=snakemake.input.test,
        data_path=snakemake.input.data,
        out_path=snakemake.output.measures,
    )
