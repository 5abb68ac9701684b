"""kNN accuracy and trustworthiness of one embedding (added to the embedding's run)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset) as run:
    from layermaps.embed.stage import score_job

    score_job(
        dataset=w.dataset,
        source=w.source,
        reducer=w.reducer,
        ks=p.k,
        trust_max=p.trust_max,
        trust_k=p.trust_k,
        seed=p.seed,
        embedding_path=snakemake.input.embedding,
        train_path=snakemake.input.train,
        test_path=snakemake.input.test,
        data_path=snakemake.input.data,
        out_path=snakemake.output.scores,
        run_id=run.run_id,
    )
