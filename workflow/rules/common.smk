# Config validation, tracking environment, target lists. Shared by every stage's rules.

import json
import re
import uuid

import yaml

from layermaps.config import (
    check_config_files, check_data_mirror, check_datasets, check_layers, check_names, check_results_dir,
    checked, coerce_overrides, tracking_paths, validate_config,
)
from layermaps.data.datasets import DATASETS as BUILTIN_DATASETS, FILES, Dataset, dataset_specs
from layermaps.embed.neighbors import graph_size, graph_sizes, parse_size
from layermaps.embed.reducers import reducer_class
from layermaps.embed.subsets import check_subset, map_name
from layermaps.fingerprint import STAGE_PACKAGES, code_version
from layermaps.guards import check_store_record, guard_locks, set_http_env, write_store_record
from layermaps.models.spec import all_models, hidden_layer_names, layer_names, repeat_groups, snapshot_epochs
from layermaps.paths import Paths, snapshot_name, split_snapshot
from layermaps.planning import COMPARED, compared_sources, snapshot_plan, study_figures
from layermaps.studies import (
    IMPLICIT, check_study_names, grid_cells, later_repeats, map_order, merge_sources, model_sources,
    read_studies, split_model_datasets, study_models, study_sources, trained_models,
)
from layermaps.tracking.display import STUDY_INDEX_ENV, study_index

_SCHEMA = workflow.source_path("../schemas/config.schema.yaml")
check_config_files(workflow.configfiles)  # a key given twice: YAML would keep the last silently
# nested --config values arrive as strings: typed by the schema. Only --config's own
# (config_settings.config; overwrite_config adds every --configfile, typed by YAML already)
coerce_overrides(config, workflow.config_settings.config, _SCHEMA)
validate_config(config, _SCHEMA)
check_results_dir(config["results_dir"])
check_data_mirror(os.environ)
# A model's `datasets:` says where it may train; the rest of its spec is how it trains.
_MODEL_CONFIG, SWEEP_CONFIG, _ALLOWED = checked(split_model_datasets, config["models"], config.get("sweeps"))
MODELS = checked(all_models, _MODEL_CONFIG, SWEEP_CONFIG)  # name -> full spec
REPEATS = repeat_groups(_MODEL_CONFIG, SWEEP_CONFIG)  # first model -> all its repeats (`repeats:`)
LATER_REPEATS = later_repeats(REPEATS)
check_names(config, MODELS)
# model -> the epochs it keeps snapshots of (`snapshots:`); a snapshot is `{model}@epoch{e}`
SNAPSHOTS = {m: snapshot_epochs(spec) for m, spec in MODELS.items() if snapshot_epochs(spec)}
SNAPSHOT_ROWS = checked(check_subset, config["embed"]["snapshot_rows"], "embed.snapshot_rows")

P = Paths(config["results_dir"])  # every output path (layermaps.paths)
R = P.root
DATASET_SPECS = checked(dataset_specs, config["datasets"])  # name -> kind, scale, path ...
check_datasets(config, DATASET_SPECS)  # own files present, subsample sizes that fit each dataset
DATASETS = list(DATASET_SPECS)
REDUCER_NAMES = list(config["reducers"])

# ---- Studies (layermaps.studies): which model trains on which dataset, what is embedded.
STUDIES = checked(read_studies, config, DATASETS, MODELS, SWEEP_CONFIG, _ALLOWED, REPEATS)
TRAINED = trained_models(STUDIES, _ALLOWED, SWEEP_CONFIG, REPEATS)  # dataset -> models trained on it
check_layers(config, STUDIES, MODELS, TRAINED)  # a named layer every embedded model has
STUDY_MODELS = {n: study_models(s, TRAINED) for n, s in STUDIES.items()}  # n -> dataset -> models
STUDY_SOURCES = {n: study_sources(s, TRAINED, MODELS, REDUCER_NAMES, REPEATS) for n, s in STUDIES.items()}
# each run's `study` tag (layermaps.tracking.display)
os.environ[STUDY_INDEX_ENV] = json.dumps(study_index(STUDY_MODELS, STUDY_SOURCES))
# A map is a reducer, fitted on every training row or on a subset: `tsne_p40@first10000`.
MAP_NAMES = map_order(STUDIES, REDUCER_NAMES)
MAPS = {map_name(r, s.fit.get(r)): (r, s.fit.get(r)) for s in STUDIES.values() for r in s.reducers}
EMBEDDED = merge_sources(STUDY_SOURCES, MAP_NAMES)  # dataset -> {source: [maps]}
# Maps whose snapshots are animated frame by frame, each fitted from the previous (figures.smk
# animate_snapshots): UMAP's, fitted on every row of the source (umap-learn takes an `init`).
ALIGNED_MAPS = [m for m, (r, subset) in MAPS.items()
                if subset is None and reducer_class(r, config["reducers"][r])[0].name == "umap"]
DOWNLOADED = [d for d in DATASETS if DATASET_SPECS[d]["kind"] in BUILTIN_DATASETS]
REDUCED = [d for d in DATASETS if DATASET_SPECS[d]["kind"] == "reduced"]
RAW_FILES = [Dataset.filename(key) for key in FILES]
SPLITS = ["train", "test"]


def one_of(names):
    """A wildcard pattern matching exactly these names (escaped: `1.0e+20` is a valid name)."""
    return "|".join(map(re.escape, names)) or "(?!x)x"


wildcard_constraints:
    dataset=one_of(DATASETS),
    model=one_of(MODELS),
    reducer=one_of(MAP_NAMES),  # a map: a reducer, and the fit subset if it has one
    study=one_of(STUDIES),
    size="k[0-9]+x[0-9]+",  # a neighbour graph's (k_train, k_test)
    source=one_of(["raw"] + [f"{m}/{l}" for m, spec in MODELS.items() for l in layer_names(spec)]
                  + [f"{snapshot_name(m, e)}/{l}" for m, es in SNAPSHOTS.items() for e in es
                     for l in layer_names(MODELS[m])]),


# ---- Code fingerprints (params: code=...): editing the library code a rule runs, or a new
# version of a library it depends on, reruns exactly that rule's jobs (layermaps.fingerprint).
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"


def code(script, stage):
    return code_version(SCRIPTS / script, packages=STAGE_PACKAGES[stage])


def embed_code(wildcards):
    """The embed script and the one reducer class of this job, with that reducer's packages."""
    reducer = MAPS[wildcards.reducer][0]
    cls, _ = reducer_class(reducer, config["reducers"][reducer])
    return code_version(SCRIPTS / "embed.py", f"{cls.__module__}.{cls.__qualname__}",
                        packages=cls.packages)

# Threads: t-SNE, TriMAP and TensorFlow results depend on the thread count. Snakemake lowers a
# rule's `threads:` to --cores (a dry run counts 1 core), so those rules also pass the configured
# number in params (a change reruns them) and their jobs give exactly that to the libraries:
# the same config gives the same results under any --cores.
THREADS = config["threads"]
# Memory (MB) and run time (min) per rule, measured (workflow/resources.yaml says how).
RESOURCES = yaml.safe_load((Path(workflow.basedir) / "workflow" / "resources.yaml").read_text())


# ---- MLflow: the store, chosen once here and handed to every job through the environment
# (envvars:), never through params: (a value in params that changes would rerun every job).
_TRACKING = config["tracking"]
if not os.environ.get("MLFLOW_TRACKING_URI"):
    _STORE, _ARTIFACTS = tracking_paths(R, _TRACKING)  # relative to results_dir, or absolute
    os.environ["MLFLOW_TRACKING_URI"] = "sqlite:///" + _STORE
    os.environ["LAYERMAPS_ARTIFACT_ROOT"] = _ARTIFACTS
else:
    os.environ.setdefault("LAYERMAPS_ARTIFACT_ROOT", "")  # a server keeps its own artifacts
os.environ.update(LAYERMAPS_EXPERIMENT_PREFIX=_TRACKING["experiment_prefix"])
os.environ.setdefault("LAYERMAPS_INVOCATION_ID", uuid.uuid4().hex)
# Pending MLflow records of score and plot jobs (layermaps.tracking.runlog), timing records of every job
# and invocation (layermaps.tracking.worktime).
os.environ["LAYERMAPS_STATE_DIR"] = os.path.abspath(P.state())
# A tracking server that stops answering fails a job within a minute, not MLflow's ~4 minutes
# of retries per request: short MLflow retries and timeouts, a user's own values kept.
_HTTP_ENV = set_http_env(os.environ)
# The credentials of a tracking server's basic-auth app (README "On a cluster"), when set:
# declared for executors that pass only what envvars: names. The SLURM executor passes the whole
# environment (sbatch --export=ALL), never a value on a command line; never params or tags.
_AUTH_ENV = [n for n in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD") if n in os.environ]
# A refused lock says whether a running snakemake holds it (which) or a killed one left it.
guard_locks()


envvars:
    "PYTHONPATH",
    "MLFLOW_TRACKING_URI",
    "LAYERMAPS_ARTIFACT_ROOT",
    "LAYERMAPS_EXPERIMENT_PREFIX",
    "LAYERMAPS_INVOCATION_ID",
    "LAYERMAPS_STATE_DIR",
    "LAYERMAPS_STUDY_INDEX",
    *_HTTP_ENV,
    *_AUTH_ENV,


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
                            start=process_start(), cores=scheduled_cores(), status=status,
                            extra={"results": R, "scheduler": workflow.scheduling_settings.scheduler,
                                   "rate_limit": rate_limit()})


def scheduled_cores():
    """--cores of a local run; under a cluster executor, which has no local cores, the --jobs
    limit (the jobs it keeps in the queue at once)."""
    settings = workflow.resource_settings
    return settings.cores or settings.nodes or 1


def rate_limit():
    """[jobs, seconds] of the job rate limiter the scheduler ran with, or None."""
    limiter = workflow.scheduler.job_rate_limiter
    return None if limiter is None else [limiter.max_jobs, limiter.timespan]


onstart:
    # Create or upgrade the store once, in the main process, before any job: a fresh SQLite
    # store hit by several jobs at once fails with schema-migration races. Records left by a
    # workflow that was killed are applied now. The commit is read once, not by every job.
    from layermaps.tracking.runlog import COMMIT_ENV, git_commit
    from layermaps.tracking.store import apply_pending, check_server, init_store

    try:
        # one store per results folder (layermaps.guards): a run into another one is refused
        check_store_record(P.state(), R, os.environ["MLFLOW_TRACKING_URI"])
        check_server(os.environ["MLFLOW_TRACKING_URI"])  # a tracking server must answer first
    except Exception as err:
        stop(err)  # one message (layermaps.errors), as for a config mistake
    init_store(os.environ["MLFLOW_TRACKING_URI"],
               os.environ["LAYERMAPS_ARTIFACT_ROOT"] or None, experiments())
    write_store_record(P.state(), R, os.environ["MLFLOW_TRACKING_URI"])
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


def model_targets(dataset, models):
    """Everything the training stage makes for these models on one dataset that a person opens
    (the model and its snapshots, history, metrics, confusion counts): targets, so a deleted one
    is made again. The activation arrays are intermediate: remade only when a job needs them
    (README "What reruns"); their run is a target where a study embeds the model (a later
    repeat's metrics are what the tables use)."""
    embedded = {s.partition("/")[0] for s in EMBEDDED.get(dataset, {})}
    outputs = [train_outputs(m, SNAPSHOTS.get(m, ()), dataset) for m in models]
    files = [f for out in outputs for key, f in out.items() if key != "snapshots"]
    files += [f for out in outputs for f in out.get("snapshots", [])]
    return files + [P.activations_run(dataset, m) for m in models if m not in LATER_REPEATS or m in embedded]


def embedding_files(dataset, sources):
    """The embeddings of these {source: [maps]} with their runs: targets, like the scores."""
    return [P.embedding(dataset, s, r, suffix) for s, rs in sources.items() for r in rs
            for suffix in (".npz", ".run_id")]


def source_inputs(wc):
    """The source's activation arrays, the prepared data, and the run it nests under."""
    arrays = {s: P.source_array(wc.dataset, wc.source, s) for s in SPLITS}
    # a snapshot's maps nest under the run of the model it is a snapshot of
    model = None if wc.source == "raw" else split_snapshot(wc.source.partition("/")[0])[0]
    parent = P.data_run(wc.dataset) if model is None else P.model_file(wc.dataset, model, "run_id")
    return {**arrays, "data": P.data(wc.dataset), "parent_run": parent}


SHARED_NEIGHBORS = config["embed"]["shared_neighbors"]
GRAPH_K = graph_sizes(config["reducers"])  # the base graph's (k_train, k_test); (0, 0): none


def embed_inputs(wc):
    """The source, and its neighbour graph for a reducer that reads one (layermaps.embed.reducers);
    a map fitted on a subset searches its own rows (the graph's neighbours are of every row)."""
    inputs = source_inputs(wc)
    reducer, subset = MAPS[wc.reducer]
    size = graph_size(reducer, config["reducers"][reducer], GRAPH_K)
    if SHARED_NEIGHBORS and size is not None and subset is None:
        inputs["graph"] = P.graph(wc.dataset, wc.source, size)
    return inputs


def map_settings(wc):
    """The embed job's settings: its reducer's config entry, and its fit subset if it has one
    (a map without one keeps exactly the entry: its jobs see no change)."""
    reducer, subset = MAPS[wc.reducer]
    settings = config["reducers"][reducer]
    return settings if subset is None else {**settings, "fit_subset": subset}


def score_files(dataset, sources=None):
    """The score records of these {source: [reducers]} (default: all embedded on the dataset),
    each source's unreduced ceiling last."""
    sources = EMBEDDED.get(dataset, {}) if sources is None else sources
    return [P.score(dataset, s, r) for s, rs in sources.items() for r in rs] + [
        P.score(dataset, s, "unreduced") for s in sources]


def study_targets(name):
    """Everything one study makes (its target rule's input)."""
    out = []
    for d, models in STUDY_MODELS[name].items():
        out += [P.data(d), *model_targets(d, models), *score_files(d, STUDY_SOURCES[name][d]),
                *embedding_files(d, STUDY_SOURCES[name][d])]
        out += [P.figure(d, "input_transform.png")] if d in REDUCED else []
    return out + study_figure_targets(name)


def final_targets():
    """`all`: every study, every dataset's kNN tables and the summary of every study."""
    out = [t for d in DATASETS for t in [P.data(d), P.knn_summary(d)]]
    out += [t for name in STUDIES for t in study_targets(name)]
    return list(dict.fromkeys(out + [P.knn_summary(), P.summary()]))  # once each, in order


# ---- Figure planning (the FIG_* settings are read in figures.smk).
def study_figure_targets(name):
    """Every figure, animation and report file of one study (common.smk's study_targets)."""
    models = {d: [m for m in ms if m in FIG_MODELS] for d, ms in STUDY_MODELS[name].items()}
    return study_figures(results=R, study=name, sources=STUDY_SOURCES[name], models=models,
                         sweeps=study_sweeps(name), class_index=FIG["class_index"], gifs=GIF_DATASETS,
                         plane=PLANE_DATASETS, summary=name != IMPLICIT,  # `all` has summary.md
                         curves={d: curve_models(name, d) for d in STUDY_MODELS[name]},
                         hidden_layers={m: hidden_layer_names(MODELS[m]) for m in FIG_MODELS},
                         aligned=ALIGNED_MAPS)


def study_sweeps(name):
    """dataset -> the study's sweeps with a member trained on it."""
    return {d: [s for s in STUDIES[name].sweeps
                if any(m["model"] in ms for m in SWEEP_PLANS[s]["members"])]
            for d, ms in STUDY_MODELS[name].items()}


def grid_plan(wc):
    """(rows, reducers, cells) of a model's grid: raw and its layers as the studies with the
    model embed them on this dataset; a cell no study asked for stays empty."""
    return grid_cells(model_sources(STUDY_SOURCES, STUDIES, wc.dataset, [wc.model], MAP_NAMES),
                      MAP_NAMES)


def sweep_scores(wc):
    """{source: [reducers]} of a sweep's figure: each member's varied layer, as embedded."""
    members = SWEEP_PLANS[wc.sweep]["members"]
    found = model_sources(STUDY_SOURCES, STUDIES, wc.dataset, [r for m in members for r in m["repeats"]],
                          MAP_NAMES)
    varied = [f"{r}/{m['layer']}" for m in members for r in m["repeats"]]
    return {s: rs for s, rs in found.items() if s in varied}


def curve_models(study, dataset):
    """The models in a study's curves figure of one dataset: every model it trains there (of a
    model's repeats the first)."""
    return [m for m in STUDY_MODELS[study][dataset] if m not in LATER_REPEATS]


def curve_histories(wc):
    """model -> history.csv of the study's curves figure (curve_models)."""
    return {m: P.model_file(wc.dataset, m, "history.csv") for m in curve_models(wc.study, wc.dataset)}


def heatmap_sources(wc):
    return STUDY_SOURCES[wc.study][wc.dataset]


def compared_scores(wc):
    """dataset -> {source: [reducers]} of the study's sources embedded on both datasets."""
    by_dataset = STUDY_SOURCES[wc.study]
    keep = compared_sources(by_dataset)
    return {d: {s: by_dataset[d][s] for s in keep} for d in COMPARED}


def study_plan(name):
    """What the summary shows of one study (params of report_summary: a change reruns it)."""
    sweeps = study_sweeps(name)
    return {"name": name, "description": STUDIES[name].description,
            "datasets": {d: {"models": ms, "sources": STUDY_SOURCES[name][d], "sweeps": sweeps[d],
                             "repeats": {m: REPEATS[m] for m in ms if m in REPEATS}}
                         for d, ms in STUDY_MODELS[name].items()}}


# ---- The map explorer (figures.smk plot_explorer).
def explorer_plan(study):
    """Every map of a study in display order: [{dataset, source, reducer}]; and the models whose
    predictions the page shows, [(dataset, model)] (each has an output layer's test array)."""
    maps = [{"dataset": d, "source": s, "reducer": r}
            for d, sources in STUDY_SOURCES[study].items() for s, rs in sources.items() for r in rs]
    models = list(dict.fromkeys((m["dataset"], m["source"].partition("/")[0])
                                for m in maps if m["source"] != "raw"))
    return maps, [list(dm) for dm in models]


def explorer_inputs(wc):
    maps, predicted = explorer_plan(wc.study)
    return {"embeddings": [P.embedding(m["dataset"], m["source"], m["reducer"]) for m in maps],
            "scores": [P.score(m["dataset"], m["source"], m["reducer"]) for m in maps],
            "data": [P.data(d) for d in STUDY_SOURCES[wc.study]],
            "predictions": [P.activation(d, m, "output", "test") for d, m in predicted]}


def explored(names):
    """The studies among these that have a map explorer: those that embed something."""
    return [n for n in names if any(STUDY_SOURCES[n].values())]


def summary_inputs(names):
    scores, metrics = [], []
    for name in names:
        for d, ms in STUDY_MODELS[name].items():
            scores += score_files(d, STUDY_SOURCES[name][d])
            metrics += [P.model_file(d, m, "metrics.json") for m in ms]
    return {"scores": list(dict.fromkeys(scores)), "metrics": list(dict.fromkeys(metrics)),
            "explorers": [P.study_file(n, "explorer.html") for n in explored(names)]}


# ---- Training and layers over training (train.smk, figures.smk).
def train_outputs(model, epochs=(), dataset="{dataset}"):
    """A training's files (the rule's outputs, or one dataset's); with snapshots, the model
    after each of those epochs too."""
    files = {"model": "model.keras", "history": "history.csv", "metrics": "metrics.json",
             "confusion": "confusion_test.csv", "run_id": "run_id"}
    out = {key: P.model_file(dataset, model, name) for key, name in files.items()}
    return out | ({"snapshots": [P.snapshot(dataset, model, e) for e in epochs]} if epochs else {})


def snapshot_of(model):
    """params: the snapshot name of an activations job (`{model}@epoch{e}`)."""
    return lambda wc: snapshot_name(model, wc.epoch)


def snapshots_of(wc):
    """snapshot_plan of the model on this dataset, over every study that embeds its snapshots."""
    return snapshot_plan(EMBEDDED.get(wc.dataset, {})).get(wc.model, {"epochs": [], "layers": [], "maps": []})


def snapshot_cells(wc):
    """[layer, epoch] of the grid's maps with this reducer, layers outer (a snapshot no study
    maps with it leaves its cell empty)."""
    plan, embedded = snapshots_of(wc), EMBEDDED.get(wc.dataset, {})
    return [[l, e] for l in plan["layers"] for e in plan["epochs"]
            if wc.reducer in embedded.get(f"{snapshot_name(wc.model, e)}/{l}", [])]


def snapshot_sources(wc):
    return [f"{snapshot_name(wc.model, e)}/{wc.layer}" for e in snapshots_of(wc)["epochs"]]
