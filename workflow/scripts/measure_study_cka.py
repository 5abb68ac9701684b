"""Linear CKA across a study's seeds, models and snapshots on one dataset (its own run, nested
under the dataset's); the later repeats' test activations are computed here from their models."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset, run_name=f"CKA {w.study}"):
    from layermaps.measures.stage import study_cka_job

    study_cka_job(
        study=w.study,
        dataset=w.dataset,
        plan=dict(p.plan),
        arrays=dict(zip(p.sources, snakemake.input.sources)),
        models=dict(zip(p.models, snakemake.input.models)),
        data_path=snakemake.input.data,
        threads=snakemake.threads,
        out_path=snakemake.output.cka,
    )
