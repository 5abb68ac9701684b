"""One sweep: accuracy and the varied layer's 2-D kNN accuracy against the varied value
(its own run, nested under prepare's)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset, run_name=f"figure sweep {w.sweep}"):
    from layermaps.figures.stage import sweep_job

    sweep_job(
        dataset=w.dataset,
        sweep=w.sweep,
        plan=dict(p.plan),
        metrics_paths=list(snakemake.input.metrics),
        score_paths=list(snakemake.input.scores),
        reducers=list(p.reducers),
        k=p.k,
        k_note=p.k_note,
        out_path=snakemake.output.figure,
        dpi=p.dpi,
    )
