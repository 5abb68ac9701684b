"""Training curves, confusion matrices (training and test rows) and the input-pair scatter of
one model (added to its training run)."""

from layermaps.tracking.jobs import tracked_job

w, i, o, p = snakemake.wildcards, snakemake.input, snakemake.output, snakemake.params
with tracked_job(snakemake, dataset=w.dataset):
    from layermaps.figures.stage import training_figures_job

    training_figures_job(
        dataset=w.dataset,
        model=w.model,
        history_path=i.history,
        confusion_path=i.confusion,
        metrics_path=i.metrics,
        data_path=i.data,
        train_outputs_path=i.train_outputs,
        test_outputs_path=i.test_outputs,
        input_pair=p.input_pair,
        out_curves=o.curves,
        out_confusion=o.confusion,
        out_input_pair=o.input_pair,
        dpi=p.dpi,
        cmap=p.cmap,
        point_size=p.point_size,
    )
