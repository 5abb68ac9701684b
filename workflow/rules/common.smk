# The config, validated; the plan of the run (layermaps.plan), built once from it; what every
# job's environment holds. The rule files read PLAN and P (its path table) and nothing else.

import re

import yaml

from layermaps.config import checked
from layermaps.embed.neighbors import parse_size
from layermaps.fingerprint import STAGE_PACKAGES, code_version
from layermaps.guards import check_store_record, drop_default_rate_limit, guard_locks, write_store_record
from layermaps.models.spec import layer_names
from layermaps.paths import Source, snapshot_name
from layermaps.plan import RAW_FILES, SPLITS, from_snakemake
from layermaps.studies import IMPLICIT, check_study_names
from layermaps.tracking.job_environment import experiments, finish_invocation, prepare_job_environment


def or_stop(function, *args, **kwargs):
    """A step that reads the config: a mistake in it is one message, not Python's frames
    (layermaps.errors); anything else is a bug and keeps its traceback."""
    try:
        return function(*args, **kwargs)
    except Exception as err:
        stop(err)


# --config's own values only (config_settings.config): overwrite_config adds every --configfile
PLAN = or_stop(
    from_snakemake,
    config,
    schema=workflow.source_path("../schemas/config.schema.yaml"),
    configfiles=workflow.configfiles,
    overrides=workflow.config_settings.config,
    environ=os.environ,
)
P = PLAN.paths  # every output path (layermaps.paths)
FIG = config["figures"]
# Threads: t-SNE, TriMAP and TensorFlow results depend on the thread count. Snakemake lowers a
# rule's `threads:` to --cores (a dry run counts 1 core), so those rules also pass the configured
# number in params (a change reruns them) and their jobs give exactly that to the libraries:
# the same config gives the same results under any --cores.
THREADS = config["threads"]
# Memory (MB) and run time (min) per rule, measured (workflow/resources.yaml says how).
RESOURCES = yaml.safe_load((Path(workflow.basedir) / "workflow" / "resources.yaml").read_text())


def one_of(names):
    """A wildcard pattern matching exactly these names (escaped: `1.0e+20` is a valid name)."""
    return "|".join(map(re.escape, names)) or "(?!x)x"


wildcard_constraints:
    dataset=one_of(PLAN.datasets),
    model=one_of(PLAN.models),
    reducer=one_of(PLAN.map_names),  # a map: a reducer, and the fit subset if it has one
    study=one_of(PLAN.studies),
    size="k[0-9]+x[0-9]+",  # a neighbour graph's (k_train, k_test)
    source=one_of(PLAN.source_names()),


# ---- Code fingerprints (params: code=...): editing the library code a rule runs, or a new
# version of a library it depends on, reruns exactly that rule's jobs (layermaps.fingerprint).
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"


def code(script, stage):
    return code_version(SCRIPTS / script, packages=STAGE_PACKAGES[stage])


def embed_code(wc):
    """The embed script and the one reducer class of this job, with that reducer's packages."""
    cls = PLAN.maps[wc.reducer].cls
    return code_version(SCRIPTS / "embed.py", f"{cls.__module__}.{cls.__qualname__}", packages=cls.packages)


# ---- MLflow and the jobs' environment (layermaps.tracking.job_environment)
_JOB_ENV = or_stop(prepare_job_environment, os.environ, PLAN)
guard_locks()  # a refused lock says whether a running snakemake holds it (which) or a killed one left it


# Named one by one for `snakemake --lint`; _JOB_ENV adds the HTTP settings and credentials.
envvars:
    "PYTHONPATH",
    "MLFLOW_TRACKING_URI",
    "LAYERMAPS_ARTIFACT_ROOT",
    "LAYERMAPS_EXPERIMENT_PREFIX",
    "LAYERMAPS_INVOCATION_ID",
    "LAYERMAPS_STATE_DIR",
    "LAYERMAPS_STUDY_INDEX",
    *_JOB_ENV,


onstart:
    # Create or upgrade the store once, in the main process, before any job: a fresh SQLite
    # store hit by several jobs at once fails with schema-migration races. Records left by a
    # workflow that was killed are applied now. The commit is read once, not by every job.
    from layermaps.tracking.runlog import COMMIT_ENV, git_commit
    from layermaps.tracking.store import apply_pending, check_server, init_store

    try:
        # one store per results folder (layermaps.guards): a run into another one is refused
        check_store_record(P.state(), P.root, os.environ["MLFLOW_TRACKING_URI"])
        check_server(os.environ["MLFLOW_TRACKING_URI"])  # a tracking server must answer first
    except Exception as err:
        stop(err)  # one message (layermaps.errors), as for a config mistake
    init_store(
        os.environ["MLFLOW_TRACKING_URI"],
        os.environ["LAYERMAPS_ARTIFACT_ROOT"] or None,
        experiments(PLAN),
    )
    write_store_record(P.state(), P.root, os.environ["MLFLOW_TRACKING_URI"])
    apply_pending(os.environ["LAYERMAPS_STATE_DIR"])
    os.environ[COMMIT_ENV] = git_commit()
    drop_default_rate_limit(workflow.scheduler)


onsuccess:
    finish_invocation(workflow, "success", P.root)


onerror:
    finish_invocation(workflow, "error", P.root)


# ---- Input functions and settings the rules share: each asks the plan.
def source_arrays(wc):
    """A source's activation arrays and the prepared data (no run: these jobs log none)."""
    return {k: v for k, v in PLAN.source_inputs(wc.dataset, wc.source).items() if k != "parent_run"}


K_SHOWN = {"k": PLAN.figures.k, "k_note": PLAN.figures.k_note}  # the k in grid, heatmap, sweep titles


def style(*names, **renamed):
    """Plot settings of config `figures:` as params (a change reruns plot jobs only)."""
    return {n: FIG[n] for n in names} | {param: FIG[key] for param, key in renamed.items()}


LISTING = yaml.safe_load((Path(workflow.basedir) / "workflow" / "report" / "listing.yaml").read_text())


def listed(method, *wildcards):
    """The file the path table's `method` names, as listed in `snakemake --report`
    (workflow/report/listing.yaml)."""
    how = LISTING[method]
    return report(
        getattr(P, method)(*wildcards),
        caption=f"../report/{how.get('caption', method)}.rst",
        category=how.get("category", "{dataset}"),
        subcategory=how.get("subcategory"),
        labels=how["labels"],
    )


def grid_cells(wc):
    """[(source, map)] of a model's grid, the cells that exist."""
    return PLAN.grid_plan(wc.dataset, wc.model)[2]


def snapshot_cells(wc):
    """The sources of a snapshot grid's cells that exist (layers outer, epochs inner)."""
    return [
        str(Source(wc.model, layer, e)) for layer, e in PLAN.snapshot_cells(wc.dataset, wc.model, wc.reducer)
    ]


def snapshot_sources(wc):
    return PLAN.snapshot_sources(wc.dataset, wc.model, wc.layer)


def study_sources(wc):
    return PLAN.study_sources[wc.study][wc.dataset]


# The source documents' numbers summary.md compares with (docs/experiments.md): an input, so a
# changed number remakes the summaries (code fingerprints cover code, not data files).
REFERENCE = os.path.join(LAYERMAPS_SRC, "layermaps", "figures", "reference.yaml")
# What summary.md shows besides its studies' plans (params: a change reruns it)
SUMMARY = {
    "hidden": {m: spec["hidden"] for m, spec in PLAN.models.items()},
    "sweeps": PLAN.sweeps,
    "k": config["knn"]["k"],
    "k_sweep": PLAN.figures.k,
    "notes": list(PLAN.figures.notes),
}
