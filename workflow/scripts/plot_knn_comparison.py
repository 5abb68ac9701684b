"""MNIST vs Fashion-MNIST kNN accuracy per source and reducer (a run in the summary experiment)."""

from layermaps.tracking.jobs import tracked_job

p = snakemake.params
with tracked_job(snakemake, dataset="summary", run_name="figure knn mnist vs fashion"):
    from layermaps.figures.stage import comparison_job

    comparison_job(
        datasets=list(p.datasets),
        score_paths={"mnist": list(snakemake.input.mnist), "fashion-mnist": list(snakemake.input.fashion)},
        sources=list(p.sources),
        reducers=list(p.reducers),
        k=p.k,
        k_note=p.k_note,
        out_path=snakemake.output.figure,
        dpi=p.dpi,
    )
