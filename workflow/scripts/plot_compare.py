"""A study's compare page: two maps side by side, aligned, linked (no run of its own: the
study's summary run logs it beside the explorer)."""

from itertools import accumulate

from layermaps.tracking.jobs import tracked_job

w, p, i = snakemake.wildcards, snakemake.params, snakemake.input
with tracked_job(snakemake, dataset="summary", mlflow=False):
    from layermaps.figures.compare_page import compare_page_job

    ends = list(accumulate(p.counts))
    embeddings = [list(i.embeddings)[end - n : end] for n, end in zip(p.counts, ends, strict=True)]
    compare_page_job(
        study=w.study,
        datasets={
            d: (record, arrays, maps, data)
            for d, record, arrays, maps, data in zip(
                p.datasets, i.records, i.arrays, embeddings, i.data, strict=True
            )
        },
        prediction_paths={tuple(key): path for key, path in zip(p.predicted, i.predictions, strict=True)},
        out_path=snakemake.output.page,
    )
