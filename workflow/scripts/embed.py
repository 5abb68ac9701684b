"""Embed one source with one reducer (tracked; nested under the source's model run)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset, run_name=f"{w.reducer} {w.source}"):
    from layermaps.embed.stage import embed_job

    embed_job(
        reducer=w.reducer,
        settings=p.settings,
        seed=p.seed,
        threads=snakemake.params.threads,
        train_path=snakemake.input.train,
        test_path=snakemake.input.test,
        data_path=snakemake.input.data,
        out_path=snakemake.output.embedding,
        graph_path=snakemake.input.get("graph"),
    )
