"""A study's map explorer: one self-contained HTML page with every map of the study (no run of
its own: the study's summary run logs it and summary.md links it)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset="summary", mlflow=False):
    from layermaps.figures.explorer import explorer_job

    inputs = snakemake.input
    maps = [
        dict(m, embedding=e, score=s)
        for m, e, s in zip(p.maps, inputs.embeddings, inputs.scores, strict=True)
    ]
    explorer_job(
        study=w.study,
        maps=maps,
        data_paths=dict(zip(p.datasets, inputs.data, strict=True)),
        prediction_paths={
            tuple(key): path for key, path in zip(p.predicted, inputs.predictions, strict=True)
        },
        k=p.k,
        compare=p.compare,
        out_path=snakemake.output.page,
    )
