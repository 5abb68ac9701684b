"""Gather the per-dataset kNN summaries into one table (a concatenation: no MLflow run)."""

from pathlib import Path

from layermaps.embed.stage import concat_csv

concat_csv(snakemake.input, snakemake.output[0])
Path(snakemake.log[0]).write_text(f"gathered {len(snakemake.input)} summaries into {snakemake.output[0]}\n")
