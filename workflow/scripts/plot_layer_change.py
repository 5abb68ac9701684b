"""A model's consecutive layers side by side in one map, aligned, coloured by neighbourhood
change (added to the run of the model's last embedding in it)."""

from layermaps.tracking.jobs import tracked_job

w, p, i = snakemake.wildcards, snakemake.params, snakemake.input
with tracked_job(snakemake, dataset=w.dataset):
    from layermaps.measures.compare import layer_change_job

    layer_change_job(
        dataset=w.dataset,
        model=w.model,
        reducer=w.reducer,
        sources=list(p.sources),
        k=p.k,
        test_paths=list(i.sources),
        embedding_paths=list(i.embeddings),
        data_path=i.data,
        out_path=snakemake.output.figure,
        dpi=p.dpi,
    )
