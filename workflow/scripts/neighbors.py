"""The exact neighbour graph of one source (no MLflow run: the embeddings that read it log it)."""

from layermaps.tracking.jobs import tracked_job

w, p = snakemake.wildcards, snakemake.params
with tracked_job(snakemake, dataset=w.dataset, mlflow=False):
    from layermaps.embed.stage import neighbors_job

    neighbors_job(
        k_train=p.k_train,
        k_test=p.k_test,
        threads=snakemake.threads,
        train_path=snakemake.input.train,
        test_path=snakemake.input.test,
        data_path=snakemake.input.data,
        out_path=snakemake.output.graph,
    )
