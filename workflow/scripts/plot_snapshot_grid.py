"""A model's maps over training: rows layers, columns snapshots (added to its training run)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset):
    from layermaps.figures.snapshots import snapshot_grid_job

    snapshot_grid_job(
        dataset=w.dataset,
        model=w.model,
        reducer=w.reducer,
        epochs=list(p.epochs),
        layers=list(p.layers),
        cells=[tuple(c) for c in p.cells],
        embedding_paths=list(snakemake.input.embeddings),
        score_paths=list(snakemake.input.scores),
        data_path=snakemake.input.data,
        out_path=snakemake.output.figure,
        k=p.k,
        k_note=p.k_note,
        dpi=p.dpi,
        cmap=p.cmap,
        point_size=p.point_size,
    )
