"""Plot one embedding, train and test side by side (added to the embedding's MLflow run)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset):
    from layermaps.figures.stage import embedding_job

    embedding_job(
        dataset=w.dataset,
        source=w.source,
        reducer=w.reducer,
        embedding_path=snakemake.input.embedding,
        data_path=snakemake.input.data,
        out_path=snakemake.output.figure,
        dpi=p.dpi,
        cmap=p.cmap,
        point_size=p.point_size,
    )
