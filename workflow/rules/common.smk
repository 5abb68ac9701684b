# Config validation, tracking environment, target lists. Shared by every stage's rules.

import re
import uuid

from layermaps.config import checked, check_names, validate_config
from layermaps.data.datasets import DATASETS as BUILTIN_DATASETS, FILES, Dataset, dataset_specs
from layermaps.embed.neighbors import graph_sizes
from layermaps.embed.reducers import REDUCERS
from layermaps.fingerprint import STAGE_PACKAGES, code_version
from layermaps.models.spec import all_models, layer_names
from layermaps.paths import Paths
from layermaps.planning import embedded_sources

validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))
MODELS = checked(all_models, config["models"], config.get("sweeps"))  # name -> full spec
check_names(config, MODELS, REDUCERS)

P = Paths(config["results_dir"])  # every output path (layermaps.paths)
R = P.root
DATASET_SPECS = checked(dataset_specs, config["datasets"])  # name -> kind, scale, path ...
DATASETS = list(DATASET_SPECS)
DOWNLOADED = [d for d in DATASETS if DATASET_SPECS[d]["kind"] in BUILTIN_DATASETS]
RAW_FILES = [Dataset.filename(key) for key in FILES]
SPLITS = ["train", "test"]


def one_of(names):
    """A wildcard pattern matching exactly these names (escaped: `1.0e+20` is a valid name)."""
    return "|".join(map(re.escape, names)) or "(?!x)x"


wildcard_constraints:
    dataset=one_of(DATASETS),
    model=one_of(MODELS),
    reducer=one_of(config["reducers"]),
    source=one_of(["raw"] + [f"{m}/{l}" for m, spec in MODELS.items() for l in layer_names(spec)]),


# ---- Code fingerprints (params: code=...): editing the library code a rule runs, or a new
# version of a library it depends on, reruns exactly that rule's jobs (layermaps.fingerprint).
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"


def code(script, stage):
    return code_version(SCRIPTS / script, packages=STAGE_PACKAGES[stage])


def embed_code(wildcards):
    """The embed script and the one reducer class of this job, with that reducer's packages."""
    cls = REDUCERS[wildcards.reducer]
    return code_version(SCRIPTS / "embed.py", f"{cls.__module__}.{cls.__qualname__}",
                        packages=cls.packages)

# Threads: t-SNE, TriMAP and TensorFlow results depend on the thread count. Snakemake lowers a
# rule's `threads:` to --cores (a dry run counts 1 core), so those rules also pass the configured
# number in params (a change reruns them) and their jobs give exactly that to the libraries:
# the same config gives the same results under any --cores.
THREADS = config["threads"]


# ---- MLflow: the store, chosen once here and handed to every job through the environment
# (envvars:), never through params: (a value in params that changes would rerun every job).
_TRACKING = config["tracking"]
if not os.environ.get("MLFLOW_TRACKING_URI"):
    os.environ["MLFLOW_TRACKING_URI"] = "sqlite:///" + os.path.abspath(f"{R}/{_TRACKING['store']}")
    os.environ["LAYERMAPS_ARTIFACT_ROOT"] = os.path.abspath(f"{R}/{_TRACKING['artifact_root']}")
else:
    os.environ.setdefault("LAYERMAPS_ARTIFACT_ROOT", "")  # a server keeps its own artifacts
os.environ.update(LAYERMAPS_EXPERIMENT_PREFIX=_TRACKING["experiment_prefix"])
os.environ.setdefault("LAYERMAPS_INVOCATION_ID", uuid.uuid4().hex)
# Pending MLflow records of score and plot jobs (layermaps.tracking.runlog), timing records of every job
# and invocation (layermaps.tracking.worktime).
os.environ["LAYERMAPS_STATE_DIR"] = os.path.abspath(P.state())


envvars:
    "PYTHONPATH",
    "MLFLOW_TRACKING_URI",
    "LAYERMAPS_ARTIFACT_ROOT",
    "LAYERMAPS_EXPERIMENT_PREFIX",
    "LAYERMAPS_INVOCATION_ID",
    "LAYERMAPS_STATE_DIR",


def drop_default_rate_limit():
    """Snakemake's job rate limiter, at its CLI default (100 jobs per 1 s), re-arms a 1 s timer
    thread at every pass of the scheduler loop, and each timer's pass arms the next: every
    finished job adds a chain that never stops, and late in a run the loop ran hundreds of times
    a second (README "Measured"). Local jobs and SLURM submissions need no such limit; a limit
    the user set is kept. The scheduler exists by onstart and starts its loop after it."""
    limiter = workflow.scheduler.job_rate_limiter
    if limiter is not None and (limiter.max_jobs, limiter.timespan) == (100, 1):
        workflow.scheduler.job_rate_limiter = None


def experiments():
    return [f"{_TRACKING['experiment_prefix']}/{d}" for d in DATASETS]


def finish_invocation(status):
    """Apply what score and plot jobs logged; record this invocation's wall time and CPU."""
    from layermaps.tracking.store import apply_pending
    from layermaps.tracking.worktime import process_start, write_invocation_record

    state = os.environ["LAYERMAPS_STATE_DIR"]
    apply_pending(state)
    write_invocation_record(state_dir=state, invocation=os.environ["LAYERMAPS_INVOCATION_ID"],
                            start=process_start(), cores=workflow.cores, status=status,
                            extra={"results": R, "scheduler": workflow.scheduling_settings.scheduler,
                                   "rate_limit": rate_limit()})


def rate_limit():
    """[jobs, seconds] of the job rate limiter the scheduler ran with, or None."""
    limiter = workflow.scheduler.job_rate_limiter
    return None if limiter is None else [limiter.max_jobs, limiter.timespan]


onstart:
    # Create or upgrade the store once, in the main process, before any job: a fresh SQLite
    # store hit by several jobs at once fails with schema-migration races. Records left by a
    # workflow that was killed are applied now. The commit is read once, not by every job.
    from layermaps.tracking.runlog import COMMIT_ENV, git_commit
    from layermaps.tracking.store import apply_pending, init_store

    init_store(os.environ["MLFLOW_TRACKING_URI"],
               os.environ["LAYERMAPS_ARTIFACT_ROOT"] or None, experiments())
    apply_pending(os.environ["LAYERMAPS_STATE_DIR"])
    os.environ[COMMIT_ENV] = git_commit()
    drop_default_rate_limit()


onsuccess:
    finish_invocation("success")


onerror:
    finish_invocation("error")


def prepare_inputs(wc):
    """The downloaded files, the dataset's own file(s), or nothing for a generated one."""
    spec = DATASET_SPECS[wc.dataset]
    if wc.dataset in DOWNLOADED:
        return {"files": [P.raw_file(wc.dataset, name) for name in RAW_FILES]}
    if spec["kind"] == "npz":
        return {"own": spec["path"]}
    if spec["kind"] == "idx":
        return {"own": sorted(str(p) for p in Path(spec["path"]).glob("*idx*-ubyte*"))}
    return {}


def model_targets(dataset):
    """Everything the training stage makes for one dataset."""
    return [P.model_file(dataset, m, "metrics.json") for m in MODELS] + [
        P.activations_run(dataset, m) for m in MODELS]


def sources():
    """What gets embedded: raw pixels and the configured layers of the configured models."""
    return embedded_sources(config["embed"], MODELS)


def source_inputs(wc):
    """The source's activation arrays, the prepared data, and the run it nests under."""
    arrays = {s: P.source_array(wc.dataset, wc.source, s) for s in SPLITS}
    model = None if wc.source == "raw" else wc.source.partition("/")[0]
    parent = P.data_run(wc.dataset) if model is None else P.model_file(wc.dataset, model, "run_id")
    return {**arrays, "data": P.data(wc.dataset), "parent_run": parent}


SHARED_NEIGHBORS = config["embed"]["shared_neighbors"]
GRAPH_K = graph_sizes(config["reducers"])  # (k_train, k_test); (0, 0): no reducer takes one


def embed_inputs(wc):
    """The source, and its neighbour graph for a reducer that reads one (layermaps.embed.reducers)."""
    inputs = source_inputs(wc)
    needs = REDUCERS[wc.reducer].graph_needs(config["reducers"][wc.reducer] or {})
    if SHARED_NEIGHBORS and needs is not None:
        inputs["graph"] = P.graph(wc.dataset, wc.source)
    return inputs


def score_files(dataset):
    return [P.score(dataset, s, r) for s in sources() for r in config["reducers"]] + [
        P.score(dataset, s, "unreduced") for s in sources()]


def final_targets():
    return [t for d in DATASETS for t in [P.data(d), *model_targets(d)]] + [
        P.knn_summary()] + figure_targets()
