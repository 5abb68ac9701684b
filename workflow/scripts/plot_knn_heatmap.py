"""kNN accuracy of every source x reducer at one k (its own run, nested under prepare's)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset, run_name="figure knn heatmap"):
    from layermaps.figures.stage import heatmap_job

    heatmap_job(
        dataset=w.dataset,
        score_paths=list(snakemake.input.scores),
        sources=list(p.sources),
        reducers=list(p.reducers),
        k=p.k,
        k_note=p.k_note,
        out_path=snakemake.output.figure,
        dpi=p.dpi,
    )
