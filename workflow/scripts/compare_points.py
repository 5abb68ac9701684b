"""A study's maps compared point by point on one dataset (its own run, nested under the
dataset's)."""

from layermaps.tracking.jobs import tracked_job

w, p, i = snakemake.wildcards, snakemake.params, snakemake.input
with tracked_job(snakemake, dataset=w.dataset, run_name=f"compare {w.study}"):
    from layermaps.measures.compare import compare_job

    compare_job(
        study=w.study,
        dataset=w.dataset,
        maps=[dict(m) for m in p.maps],
        k=p.k,
        vote_k=p.vote_k,
        test_paths=dict(zip(p.sources, i.sources)),
        embedding_paths=list(i.embeddings),
        data_path=i.data,
        out_path=snakemake.output.arrays,
        record_path=snakemake.output.record,
    )
