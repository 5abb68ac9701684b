"""Animated activations of one class's test images and their running mean (added to the
model's training run)."""

from layermaps.tracking.jobs import tracked_job

w, p, i, o = snakemake.wildcards, snakemake.params, snakemake.input, snakemake.output
with tracked_job(snakemake, dataset=w.dataset):
    from layermaps.figures.stage import activation_gifs_job

    activation_gifs_job(
        dataset=w.dataset,
        model=w.model,
        class_index=int(w.cls),
        data_path=i.data,
        layer_paths=dict(zip(p.layers, i.layers)),
        output_path=i.predictions,
        n_images=p.n_images,
        n_running=p.n_running,
        fps=p.fps,
        dpi=p.dpi,
        out_activations=o.activations,
        out_running=o.running_mean,
    )
