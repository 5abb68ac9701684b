"""Results that no config asks for any more: list them, and on request remove them.

    python -m layermaps.stale                 # list (make stale)
    python -m layermaps.stale --remove        # delete those files, retire their MLflow runs
    python -m layermaps.stale -- --configfile my.yaml   # the config(s) to compare with

A file under the results folder is stale when the workflow of the current config does not
make it: Snakemake's own `--list-untracked` says which (after a model, a reducer or a study
left the config, its models, arrays, maps, scores, figures and logs). The MLflow store, its
artifacts and the timing records are never touched. A run whose output files are all stale is
stale too: --remove marks it as the trust issue marks a superseded run (tag
`layermaps.superseded_by` = "removed: no longer in the config") and soft-deletes it, so the
UI's default view shows current runs only and its "Deleted" view keeps the old ones.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# Under the results folder, never stale: the store, its artifacts, timing and pending records.
KEEP = ("mlflow.db", "mlartifacts/", ".layermaps/", ".snakemake/")
REMOVED = "removed: no longer in the config"
SUPERSEDED_TAG = "layermaps.superseded_by"
OUTPUTS_TAG = "layermaps.outputs"


class StaleError(RuntimeError):
    expected = True


def untracked(snakemake_args: list[str], snakefile: str | None = None) -> list[str]:
    """Snakemake's list of files in the working directory that no job of the DAG makes."""
    exe = str(Path(sys.executable).parent / "snakemake")
    cmd = [exe, *(["-s", snakefile] if snakefile else []), "--list-untracked", *snakemake_args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StaleError(f"snakemake --list-untracked failed ({proc.returncode}):\n"
                         + (proc.stderr.strip() or proc.stdout.strip())[-3000:])
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def stale_files(paths: list[str], results: str) -> list[str]:
    """The untracked paths inside the results folder that are results (not the store)."""
    root = results.rstrip("/") + "/"
    out = []
    for p in paths:
        if not p.startswith(root):
            continue
        rel = p[len(root):]
        if any(rel == k or rel.startswith(k) for k in KEEP):
            continue
        if rel.startswith("mlflow.db"):
            continue
        out.append(p)
    return sorted(out)


def stale_runs(client, files: set[str], results: str) -> list:
    """Live runs of this store whose every output is stale (or already gone)."""
    runs = []
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id], max_results=50_000):
            outputs = json.loads(run.data.tags.get(OUTPUTS_TAG, "[]"))
            if outputs and all(o in files or not Path(o).exists() for o in outputs) and any(
                    o in files for o in outputs):
                runs.append(run)
    return runs


def describe(files: list[str]) -> list[str]:
    """One line per folder: its stale files' names (the first few)."""
    groups: dict[str, list[str]] = {}
    for f in files:
        groups.setdefault(str(Path(f).parent), []).append(Path(f).name)
    lines = []
    for folder, names in sorted(groups.items()):
        more = f" and {len(names) - 4} more" if len(names) > 4 else ""
        lines.append(f"  {folder}/: {', '.join(names[:4])}{more}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m layermaps.stale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="results", help="the results folder (results_dir)")
    parser.add_argument("--remove", action="store_true", help="delete the stale files, retire their runs")
    parser.add_argument("--store", default=None,
                        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or the results folder's mlflow.db)")
    parser.add_argument("-s", "--snakefile", default=None)
    parser.add_argument("snakemake_args", nargs="*", help="after --: arguments for snakemake (--configfile ...)")
    args = parser.parse_args(argv)
    try:
        files = stale_files(untracked(args.snakemake_args, args.snakefile), args.results)
    except StaleError as err:
        print(f"layermaps: {err}", file=sys.stderr)
        return 1
    uri = args.store or os.environ.get("MLFLOW_TRACKING_URI") or (
        f"sqlite:///{Path(args.results).resolve()}/mlflow.db" if Path(args.results, "mlflow.db").exists() else None)
    runs = []
    if uri:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        runs = stale_runs(client, set(files), args.results)
    if not files:
        print(f"No stale results in {args.results}/: every file there is made by the current config.")
        return 0
    print(f"{len(files)} file(s) in {args.results}/ that the current config no longer makes, "
          f"and {len(runs)} MLflow run(s) of theirs:")
    print("\n".join(describe(files)))
    if not args.remove:
        print("Run again with --remove to delete the files and retire the runs "
              "(the runs stay in the UI's Deleted view).")
        return 0
    for f in files:
        Path(f).unlink(missing_ok=True)
    for folder in sorted({Path(f).parent for f in files}, key=lambda p: len(p.parts), reverse=True):
        while folder != Path(args.results) and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
    for run in runs:
        client.set_tag(run.info.run_id, SUPERSEDED_TAG, REMOVED)
        client.delete_run(run.info.run_id)
    print(f"Removed {len(files)} file(s), retired {len(runs)} run(s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
