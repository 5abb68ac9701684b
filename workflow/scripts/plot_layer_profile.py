"""A study's layer profile on one dataset: probe, kNN ceiling, best 2-D kNN and intrinsic
dimension against depth (its own run, nested under the dataset's)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset, run_name=f"figure layer profile {w.study}"):
    from layermaps.measures.stage import layer_profile_job

    layer_profile_job(
        study=w.study,
        dataset=w.dataset,
        plan=dict(p.plan),
        depths=dict(p.depths),
        k=p.k,
        measure_paths=list(snakemake.input.measures),
        score_paths=list(snakemake.input.scores),
        out_path=snakemake.output.figure,
        dpi=p.dpi,
    )
