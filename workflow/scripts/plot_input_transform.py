"""What a reduced dataset keeps of its parent's inputs (added to the dataset's prepare run)."""

from layermaps.tracking.jobs import tracked_job

p = snakemake.params
with tracked_job(snakemake, dataset=snakemake.wildcards.dataset):
    from layermaps.figures.stage import input_transform_job

    input_transform_job(
        dataset=snakemake.wildcards.dataset,
        transform_path=snakemake.input.transform,
        parent_path=snakemake.input.parent,
        out_path=snakemake.output.figure,
        dpi=p.dpi,
    )
