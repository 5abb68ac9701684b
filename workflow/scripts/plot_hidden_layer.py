"""Box plots of a hidden layer's first units by predicted class, and its PCA in 2-D and 3-D
(added to the model's training run)."""

from layermaps.tracking.jobs import tracked_job

w, p, i, o = snakemake.wildcards, snakemake.params, snakemake.input, snakemake.output
with tracked_job(snakemake, dataset=w.dataset):
    from layermaps.figures.stage import hidden_layer_job

    hidden_layer_job(
        dataset=w.dataset,
        model=w.model,
        layer=w.layer,
        acts_path=i.activations,
        output_path=i.predictions,
        data_path=i.data,
        n_units=p.n_units,
        dpi=p.dpi,
        cmap=p.cmap,
        point_size=p.point_size,
        out_boxplots=o.boxplots,
        out_pca=o.pca,
    )
