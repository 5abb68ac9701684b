"""One layer's maps over training, aligned frame to frame, as a GIF (added to the model's run)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset):
    from layermaps.figures.snapshots import animation_job

    inputs = snakemake.input
    animation_job(
        dataset=w.dataset,
        model=w.model,
        layer=w.layer,
        reducer=w.reducer,
        settings=dict(p.settings),
        seed=p.seed,
        threads=p.threads,
        epochs=list(p.epochs),
        first_embedding=inputs.first,
        arrays={e: (t, u) for e, t, u in zip(p.epochs, inputs.train, inputs.test)},
        data_path=inputs.data,
        out_path=snakemake.output.animation,
        k=p.k,
        fps=p.fps,
        dpi=p.dpi,
        cmap=p.cmap,
        point_size=p.point_size,
    )
