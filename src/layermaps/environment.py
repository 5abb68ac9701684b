"""What a run needs of the machine before any job: a results folder it may write, a data
mirror that is a URL or a folder, the local store's paths (layermaps.plan.from_snakemake)."""

from __future__ import annotations

import json
import os

from layermaps.config import ConfigError


def check_results_dir(value, workdir: str = ".") -> None:
    """results_dir must name a folder below the filesystem root that can hold the outputs."""

    where = "invalid config: results_dir"
    text = value if isinstance(value, str) else ""
    if not text.strip():
        raise ConfigError(
            f"{where} = {json.dumps(value)}: give a folder for every output, "
            f"relative to the working directory (default: results)."
        )
    if text != text.strip() or any(c in text for c in "{}\n\t"):
        raise ConfigError(
            f"{where} = {json.dumps(value)}: a folder name without surrounding "
            f"spaces, braces (Snakemake wildcards) or control characters."
        )
    full = os.path.abspath(os.path.join(workdir, text))
    if os.path.dirname(full) == full:
        raise ConfigError(
            f"{where} = {json.dumps(value)} is the filesystem root: every output "
            f"would be written to /<dataset>/...; give a folder of its own, e.g. "
            f"results or /data/layermaps-results."
        )
    if os.path.exists(full) and not os.path.isdir(full):
        raise ConfigError(
            f"{where} = {json.dumps(value)}: {full} is a file, not a folder; "
            f"give another results_dir or move the file."
        )


def tracking_paths(results: str, tracking: dict) -> tuple[str, str]:
    """(SQLite file, artifact folder) of the local store: each relative to results_dir unless
    it is absolute."""

    for key in ("store", "artifact_root"):
        if "://" in tracking[key]:
            raise ConfigError(
                f"invalid config: tracking.{key} = {json.dumps(tracking[key])}: a "
                f"path (relative to results_dir, or absolute), not a URI; for a "
                f"tracking server set MLFLOW_TRACKING_URI instead."
            )
        if not tracking[key].strip():
            raise ConfigError(
                f"invalid config: tracking.{key} is empty: give a path relative "
                f"to results_dir or an absolute one."
            )
    return tuple(os.path.abspath(os.path.join(results, tracking[k])) for k in ("store", "artifact_root"))


def check_data_mirror(environ) -> None:
    """$LAYERMAPS_DATA_MIRROR, when set, is a file:// folder that exists or an http(s):// URL."""
    from urllib.parse import unquote, urlparse

    value = environ.get("LAYERMAPS_DATA_MIRROR")
    if not value:
        return
    url = urlparse(value)
    if url.scheme not in ("file", "http", "https") or (url.scheme != "file" and not url.netloc):
        raise ConfigError(
            f"LAYERMAPS_DATA_MIRROR={value}: not a file:// or http(s):// URL of a "
            f"mirror (a base holding mnist/train-images-idx3-ubyte.gz ...); fix it or "
            f"unset it to use the mirrors of config data.mirrors."
        )
    if url.scheme == "file" and not os.path.isdir(unquote(url.path)):
        raise ConfigError(
            f"LAYERMAPS_DATA_MIRROR={value}: the folder {unquote(url.path)} does not "
            f"exist (a file:// URL needs three slashes before an absolute path: "
            f"file:///data/mirror); fix it or unset it."
        )
