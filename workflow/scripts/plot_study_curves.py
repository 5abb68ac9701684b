"""The training curves of every model of a study on one dataset (its own run, nested under
prepare's)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset, run_name=f"figure training curves {w.study}"):
    from layermaps.figures.stage import study_curves_job

    study_curves_job(
        dataset=w.dataset,
        study=w.study,
        history_paths=dict(zip(p.models, snakemake.input.histories)),
        out_path=snakemake.output.figure,
        dpi=p.dpi,
    )
