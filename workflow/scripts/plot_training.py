"""Training curves and test confusion matrix of one model (added to its training run)."""

from layermaps.tracking.jobs import tracked_job

w, i, o = snakemake.wildcards, snakemake.input, snakemake.output
with tracked_job(snakemake, dataset=w.dataset):
    from layermaps.figures.stage import training_figures_job

    training_figures_job(dataset=w.dataset, model=w.model, history_path=i.history,
                         confusion_path=i.confusion, metrics_path=i.metrics, out_curves=o.curves,
                         out_confusion=o.confusion, dpi=snakemake.params.dpi)
