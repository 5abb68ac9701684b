# The config, validated; the plan of the run (layermaps.plan), built once from it; what every
# job's environment holds. The rule files read PLAN and P (its path table) and nothing else.

from layermaps.config import checked
from layermaps.embed.neighbors import parse_size
from layermaps.fingerprint import STAGE_PACKAGES, class_code, code_version
from layermaps.guards import guard_locks
from layermaps.models.spec import layer_names
from layermaps.paths import report_listing, snapshot_name
from layermaps.plan import RAW_FILES, SPLITS, from_snakemake, one_of
from layermaps.resources import KEYS as RESOURCE_KEYS
from layermaps.resources import read_resources, request
from layermaps.scheduling import UPSTREAM, map_priority
from layermaps.studies import IMPLICIT, check_study_names
from layermaps.tracking.job_environment import finish_invocation, prepare_job_environment, start_invocation


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
# Threads: t-SNE, TriMAP and TensorFlow results depend on the thread count, and Snakemake lowers
# `threads:` to --cores: those rules also pass the configured number in params (a change reruns
# them) and their jobs give exactly that to the libraries, the same results under any --cores.
THREADS = config["threads"]
# Memory (MB) and run time (min) per rule, measured (workflow/resources.yaml says how).
RESOURCES = or_stop(read_resources, Path(workflow.basedir) / "workflow" / "resources.yaml")


def requested(entry):
    """A rule's `resources:` from its resources.yaml entry; an entry that grows with the rows
    asks, job by job, for what the job's rows need (layermaps.resources, Plan.job_rows)."""
    e = RESOURCES[entry]
    if "grows" not in e:
        return request(e, None)
    return {key: (lambda wc, key=key: request(e, PLAN.job_rows(entry, wc))[key]) for key in RESOURCE_KEYS}


wildcard_constraints:
    **PLAN.wildcard_constraints(),


# ---- Code fingerprints (params: code=...): editing the library code a rule runs, or a new
# version of a library it depends on, reruns exactly that rule's jobs (layermaps.fingerprint).
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"


def code(script, stage):
    return code_version(SCRIPTS / script, packages=STAGE_PACKAGES[stage])


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
    # in the main process, before any job (layermaps.tracking.job_environment)
    or_stop(start_invocation, PLAN, os.environ, workflow.scheduler)


onsuccess:
    finish_invocation(workflow, "success", P.root)


onerror:
    finish_invocation(workflow, "error", P.root)


# ---- Settings the rules share
LISTING = report_listing(Path(workflow.basedir) / "workflow" / "report" / "listing.yaml")


def listed(method, *wildcards):
    """The file the path table's `method` names, as listed in `snakemake --report`."""
    return report(getattr(P, method)(*wildcards), **LISTING[method])


# The source documents' numbers summary.md compares with (docs/experiments.md): an input, so a
# changed number remakes the summaries (code fingerprints cover code, not data files).
REFERENCE = os.path.join(LAYERMAPS_SRC, "layermaps", "figures", "reference.yaml")
