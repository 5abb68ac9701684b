"""kNN accuracy of each layer over training (its own run, nested under prepare's)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset, run_name="figure knn over training"):
    from layermaps.figures.snapshots import over_training_job

    over_training_job(
        dataset=w.dataset,
        study=w.study,
        plans=dict(p.plans),
        score_paths=list(snakemake.input.scores),
        out_path=snakemake.output.figure,
        k=p.k,
        k_note=p.k_note,
        dpi=p.dpi,
    )
