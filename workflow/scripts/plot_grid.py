"""A model's grid of 2-D maps: rows raw / hidden layers, columns reducers (added to the
model's training run)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset):
    from layermaps.figures.stage import grid_job

    grid_job(
        dataset=w.dataset,
        model=w.model,
        rows=list(p.rows),
        reducers=list(p.reducers),
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
