"""Results that no config asks for any more: list them, and on request remove them.

    python -m layermaps.stale                 # list (make stale)
    python -m layermaps.stale --remove        # delete those files, retire their MLflow runs
    python -m layermaps.stale -- --configfile my.yaml   # the config(s) to compare with

A file under the results folder is stale when the workflow of the current config does not
make it any more (after a model, a reducer or a study left the config: its models, arrays,
maps, scores, figures and logs). Removal is safe by construction; a file is a candidate only
when all of these hold:
- its path matches an output (or log) pattern of one of the workflow's rules, wildcard
  constraints included, so a user's notes, `report.html` or a store at `tracking.store` never
  are;
- no job of the config's DAG reads or writes it (the DAG Snakemake builds for
  `--list-untracked`, read from inside that run, so profiles and --config count);
- it does not lie in a folder that holds another results folder (its `.layermaps` state), an
  MLflow store (mlflow.db, mlruns, mlartifacts, the configured store and artifact folder) or a
  `.snakemake` folder: `results/quick/` and `results/bench/` are never looked into.
The results folder must be the config's `results_dir` (symbolic links resolved) and the
Snakemake arguments must name no target, `--until`, `--omit-from` or `--allowed-rules`: a
smaller DAG would call the rest of the results stale.

A run whose output files are all stale is stale too: --remove marks it as the trust issue
marks a superseded run (tag `layermaps.superseded_by` = "removed: no longer in the config")
and soft-deletes it, so the UI's default view shows current runs only and its "Deleted" view
keeps the old ones.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from layermaps.paths import STATE_DIR, Paths

# A folder holding one of these is another results folder, a store or a Snakemake working
# directory: nothing in it is ever stale (at the top of the results folder: the entry itself).
MARKS = (STATE_DIR, "mlflow.db", "mlruns", "mlartifacts", ".snakemake")
SQLITE_SIDE_FILES = ("", "-journal", "-wal", "-shm")
REMOVED = "removed: no longer in the config"
SUPERSEDED_TAG = "layermaps.superseded_by"
OUTPUTS_TAG = "layermaps.outputs"
# Snakemake options that shrink the DAG: everything outside it would look stale.
NARROWING = {
    "targets": "a target",
    "target_jobs": "--target-jobs",
    "until": "--until",
    "omit_from": "--omit-from",
    "allowed_rules": "--allowed-rules",
}
PROBE_ENV = "LAYERMAPS_STALE_PROBE"


class StaleError(RuntimeError):
    expected = True


# ---------------------------------------------------------------- inside snakemake's process
def probe(argv: list[str]) -> None:
    """Run the snakemake CLI with --list-untracked and, instead of its list, write what the
    workflow itself knows to $LAYERMAPS_STALE_PROBE: the config's results folder and store,
    every rule's output and log patterns, the DAG's files, and what narrows the DAG."""
    from snakemake import cli
    from snakemake.dag import DAG

    def record(dag) -> None:
        wf = dag.workflow
        settings = wf.dag_settings
        used = {
            os.path.abspath(str(f))
            for job in dag.jobs
            for f in itertools.chain(job.local_input, job.local_output, job.log)
        }
        patterns = {f.regex().pattern for rule in wf.rules for f in itertools.chain(rule.output, rule.log)}
        Path(os.environ[PROBE_ENV]).write_text(
            json.dumps(
                {
                    "workdir": os.getcwd(),
                    "results_dir": wf.config["results_dir"],
                    "tracking_uri": os.environ.get("MLFLOW_TRACKING_URI", ""),
                    "artifact_root": os.environ.get("LAYERMAPS_ARTIFACT_ROOT", ""),
                    "patterns": sorted(patterns),
                    "used": sorted(used),
                    "narrowing": {k: sorted(map(str, getattr(settings, k) or ())) for k in NARROWING},
                }
            )
        )

    DAG.list_untracked = record  # this process only: it exits below
    sys.exit(cli.main([*argv, "--list-untracked"]))


def workflow_facts(snakemake_args: list[str], snakefile: str | None = None) -> dict:
    """What the workflow of this config makes (layermaps.stale.probe, in a snakemake process)."""
    with tempfile.TemporaryDirectory(prefix="layermaps-stale-") as tmp:
        out = Path(tmp, "facts.json")
        code = "import sys; from layermaps.stale import probe; probe(sys.argv[1:])"
        cmd = [sys.executable, "-c", code, *(["-s", snakefile] if snakefile else []), *snakemake_args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, PROBE_ENV: str(out)})
        if proc.returncode != 0 or not out.exists():
            said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            ours = [line for line in said if line.startswith("layermaps: ")]
            if ours:  # the workflow's own one-line message (a config mistake): just that
                raise StaleError(ours[-1].removeprefix("layermaps: "))
            raise StaleError(
                f"snakemake --list-untracked failed ({proc.returncode}):\n" + "\n".join(said)[-3000:]
            )
        return json.loads(out.read_text())


# ---------------------------------------------------------------- the candidates
# stand-ins for a name (one path component), for several, and for a suffix (.run_id)
NAME, MANY, SUFFIX = "\x00", "\x01", "\x02"
NOT_FILES = ("figures", "state", "all_scores")  # folders, or a search, not an output's path


def output_shapes(root: str) -> list[re.Pattern]:
    """Every output path the paths table (layermaps.paths) can spell, with each argument any
    name: independent of the config, so the files of a dataset, a model, a reducer or a study
    that left it still match. A source is `raw` or `{model}/{layer}`; a log, any depth."""
    paths = Paths(root)
    shapes = set()
    for method, fn in inspect.getmembers(paths, inspect.ismethod):
        if method.startswith("_") or method in NOT_FILES:
            continue
        choices = []
        for param in inspect.signature(fn).parameters.values():
            if param.kind is param.VAR_POSITIONAL:
                choices.append([(MANY,)])
            elif param.name == "source":
                choices.append([("raw",), (f"{NAME}/{NAME}",)])
            elif param.name == "suffix":
                choices.append([(SUFFIX,), ()])
            else:
                choices.append([(NAME,)] + ([()] if param.default is not param.empty else []))
        for args in itertools.product(*choices):
            shapes.add(fn(*itertools.chain(*args)))
    stand_ins = {NAME: "[^/]+", MANY: "[^/]+(?:/[^/]+)*", SUFFIX: r"\.[^/.]+"}
    return [
        re.compile(
            functools.reduce(lambda text, kv: text.replace(*kv), stand_ins.items(), re.escape(s)) + "$"
        )
        for s in sorted(shapes)
    ]


def ending(name: str) -> str:
    """What a file name ends with, as the workflow names its kinds of file: `.png`, `run_id`."""
    return name[name.rindex(".") :] if "." in name else name


def written_kinds(patterns: list[str]) -> set[str]:
    """The endings of the files the workflow's rules write (from their output patterns)."""
    return {ending(p.rsplit("/", 1)[-1].rstrip("$").replace("\\", "")) for p in patterns}


def check_request(facts: dict, results: str | None) -> str:
    """The config's results folder; refused when --results names another or the DAG is narrowed."""
    given = {k: v for k, v in facts["narrowing"].items() if v}
    if given:
        what = "; ".join(f"{NARROWING[k]} {' '.join(v)}" for k, v in given.items())
        raise StaleError(
            f"refused: the Snakemake arguments narrow the workflow ({what}), so every "
            f"result outside it would look stale; give only config options "
            f"(--configfile, --config), or delete those files yourself."
        )
    config_dir = facts["results_dir"]
    ours = os.path.realpath(os.path.join(facts["workdir"], config_dir))
    if results is not None and os.path.realpath(results) != ours:
        raise StaleError(
            f"refused: --results {results} is not the config's results_dir "
            f"({config_dir}); give the config that wrote {results} after -- "
            f"(e.g. -- --configfile config.yaml workflow/configs/quick.yaml) or "
            f"--results {config_dir}."
        )
    return config_dir


def store_file(facts: dict) -> str | None:
    """The real path of the workflow's SQLite store, or None under a tracking server."""
    uri = facts["tracking_uri"]
    # sqlite:///relative.db and sqlite:////absolute.db alike
    return os.path.realpath(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def protected(facts: dict) -> set[str]:
    """Real paths of the store (and SQLite's side files) and of its artifact folder."""
    store = store_file(facts)
    keep = {store + side for side in SQLITE_SIDE_FILES} if store else set()
    if facts["artifact_root"]:
        keep.add(os.path.realpath(facts["artifact_root"]))
    return keep


def stale_files(facts: dict, results: str) -> tuple[list[str], list[str]]:
    """(stale files, folders not looked into), as the workflow spells paths (results/...)."""
    root = Paths(results).root
    top = os.path.join(facts["workdir"], root)
    patterns = output_shapes(root) + [re.compile(p) for p in facts["patterns"]]
    kinds = written_kinds(facts["patterns"])
    used, keep = set(facts["used"]), protected(facts)
    keep_dirs = {os.path.dirname(k) for k in keep}
    files, skipped = [], []
    # os.walk follows the results folder itself when it is a link, never links below it
    for folder, dirs, names in os.walk(top):
        rel = os.path.relpath(folder, top)
        here = root if rel == "." else f"{root}/{rel}"
        real = os.path.realpath(folder)
        if rel != "." and (
            any(os.path.lexists(os.path.join(folder, m)) for m in MARKS) or real in keep_dirs or real in keep
        ):
            skipped.append(here + "/")
            dirs[:] = []
            continue
        dirs[:] = sorted(
            d
            for d in dirs
            if not (rel == "." and d in MARKS) and os.path.realpath(os.path.join(folder, d)) not in keep
        )
        for name in sorted(names):
            path = os.path.join(folder, name)
            if (rel == "." and name in MARKS) or os.path.realpath(path) in keep:
                continue
            spelled = f"{here}/{name}"
            if (
                os.path.abspath(path) in used
                or ending(name) not in kinds
                or not any(p.match(spelled) for p in patterns)
            ):
                continue
            files.append(spelled)
    return sorted(files), skipped


def stale_runs(client, files: set[str]) -> list:
    """Live runs of this store whose every output is stale (or already gone)."""
    runs = []
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id], max_results=50_000):
            outputs = json.loads(run.data.tags.get(OUTPUTS_TAG, "[]"))
            if (
                outputs
                and all(o in files or not Path(o).exists() for o in outputs)
                and any(o in files for o in outputs)
            ):
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


def remove(files: list[str], root: str) -> None:
    """Delete the files, then the folders they leave empty (never the results folder)."""
    for f in files:
        Path(f).unlink(missing_ok=True)
    for folder in sorted({Path(f).parent for f in files}, key=lambda p: len(p.parts), reverse=True):
        while folder != Path(root) and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m layermaps.stale", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--results", default=None, help="the results folder: must be the config's results_dir (default: it)"
    )
    parser.add_argument("--remove", action="store_true", help="delete the stale files, retire their runs")
    parser.add_argument(
        "--store",
        default=None,
        help="MLflow tracking URI (default: the workflow's, MLFLOW_TRACKING_URI or tracking.store)",
    )
    parser.add_argument("-s", "--snakefile", default=None)
    parser.add_argument(
        "snakemake_args", nargs="*", help="after --: arguments for snakemake (--configfile ...)"
    )
    args = parser.parse_args(argv)
    try:
        facts = workflow_facts(args.snakemake_args, args.snakefile)
        results = check_request(facts, args.results)
    except StaleError as err:
        print(f"layermaps: {err}", file=sys.stderr)
        return 1
    os.chdir(facts["workdir"])  # -d/--directory: paths are the workflow's, relative to it
    files, skipped = stale_files(facts, results)
    uri = args.store or facts["tracking_uri"]
    if not args.store and (store := store_file(facts)) and not os.path.exists(store):
        uri = ""  # no store yet: no runs to retire (MlflowClient would create one)
    runs = []
    if uri:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        runs = stale_runs(client, set(files))
    if skipped:
        print(
            f"Not looked into (another results folder, a store or a Snakemake folder): {', '.join(skipped)}"
        )
    if not files:
        print(f"No stale results in {results}/: every result file there is made by the current config.")
        return 0
    print(
        f"{len(files)} file(s) in {results}/ that the current config no longer makes, "
        f"and {len(runs)} MLflow run(s) of theirs:"
    )
    print("\n".join(describe(files)))
    if not args.remove:
        print(
            "Run again with --remove to delete the files and retire the runs "
            "(the runs stay in the UI's Deleted view)."
        )
        return 0
    remove(files, results)
    for run in runs:
        client.set_tag(run.info.run_id, SUPERSEDED_TAG, REMOVED)
        client.delete_run(run.info.run_id)
    print(f"Removed {len(files)} file(s), retired {len(runs)} run(s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
