"""Linear CKA between every pair of a model's layers, raw pixels included (its own run, nested
under the model's)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset, run_name=f"CKA {w.model}"):
    from layermaps.measures.stage import cka_job

    cka_job(
        dataset=w.dataset,
        model=w.model,
        names=list(p.sources),
        test_paths=list(snakemake.input.sources),
        out_path=snakemake.output.cka,
    )
