"""The one place where workflow scripts meet Snakemake: logging and the job's MLflow run.

Every script under workflow/scripts does
    with tracked_job(snakemake, dataset=...) as run:
        from layermaps.<stage> import ...   # heavy imports inside: their noise goes to the log
        ...library calls...
so each job logs to its `log:` file, gets one MLflow run (nested under its upstream run when
the rule names a `parent_run` input) and writes its run id to the `run_id` output, or adds to
the run named by a `resume_run` input; and leaves a timing record (layermaps.tracking.worktime).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

EXPERIMENT_PREFIX_ENV = "LAYERMAPS_EXPERIMENT_PREFIX"
# TensorFlow's C++ INFO/WARNING banners (CPU features, oneDNN) say nothing a user can act on.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def set_thread_env(threads: int) -> None:
    """Thread pools of numerical libraries imported after this call (BLAS, OpenMP, numba)."""
    for var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def experiment_name(dataset: str) -> str:
    return f"{os.environ.get(EXPERIMENT_PREFIX_ENV, 'layermaps')}/{dataset}"


@contextlib.contextmanager
def _log_to(path: str):
    """Send this process's stdout and stderr (Python's and C libraries' alike) to the log file."""
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    log = open(path, "a", buffering=1)
    saved = [os.dup(1), os.dup(2)]
    sys.stdout.flush(), sys.stderr.flush()
    os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
    try:
        yield terminal
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        log.close()


def dataset_tags(config: dict, dataset: str) -> dict:
    """What every run of a dataset is tagged with: how its inputs are scaled and, for a reduced
    dataset, what its inputs are (so a model's run says it trained on PCA-154 of MNIST)."""
    from layermaps.data.datasets import dataset_specs

    spec = dataset_specs(config.get("datasets") or []).get(dataset)
    if not spec:
        return {}
    tags = {"dataset.scale": spec["scale"]}
    if spec["kind"] == "reduced":
        tags["dataset.inputs"] = f"{spec['method']} {spec['keep']} of {spec['from']}"
    return tags


def params_dict(snakemake) -> dict:
    return {k: v for k, v in snakemake.params.items()}


@contextlib.contextmanager
def tracked_job(snakemake, *, dataset: str, run_name: str | None = None, mlflow: bool = True):
    """Run the body as one tracked workflow job; see the module docstring.

    Named inputs with a meaning here: `parent_run` (a run-id file: the new run nests under
    it) and `resume_run` (a run-id file: add to that run instead of starting one; such a job
    records what it logs without importing MLflow, see layermaps.tracking.runlog). With mlflow=False
    the job has no run at all (its consumers log what it made); the rest is the same.
    """
    # Before any numerical library is imported: the job's threads reach their pools. A rule
    # whose results depend on the thread count gives it in params (the configured number, as
    # Snakemake lowers `threads` to --cores): then it is the same under any --cores.
    threads = getattr(snakemake.params, "threads", snakemake.threads)
    set_thread_env(threads)
    from layermaps.errors import is_expected, unreadable_input
    from layermaps.tracking import display
    from layermaps.tracking.runlog import STATE_ENV, deferred_run, read_run_id
    from layermaps.tracking.worktime import write_job_record

    inputs = dict(snakemake.input.items())
    outputs = dict(snakemake.output.items())
    wildcards = dict(snakemake.wildcards.items())
    common = dict(
        rule=snakemake.rule,
        wildcards=wildcards,
        params=params_dict(snakemake),
        outputs=[str(o) for o in snakemake.output],
    )
    status = "FAILED"
    with _log_to(snakemake.log[0]) as terminal:
        try:
            if not mlflow:
                run = contextlib.nullcontext()
            elif "resume_run" in inputs:
                run = deferred_run(
                    run_id=read_run_id(inputs["resume_run"]), state_dir=os.environ[STATE_ENV], **common
                )
            else:
                from layermaps.tracking.store import job_run

                parent = read_run_id(inputs["parent_run"]) if "parent_run" in inputs else None
                tags = {
                    **dataset_tags(snakemake.config, dataset),
                    **display.person_tags(snakemake.rule, wildcards, common["params"]),
                }
                if parent and display.is_top_level(snakemake.rule, common["params"]):
                    tags[display.DATA_RUN_TAG], parent = parent, None
                run = job_run(
                    experiment=experiment_name(dataset),
                    run_id_file=outputs.get("run_id"),
                    parent_run_id=parent,
                    tags=tags,
                    run_name=display.run_name(snakemake.rule, wildcards, common["params"], run_name),
                    **common,
                )
            with run as active:
                yield active
            status = "FINISHED"
        except BaseException as err:
            expected = is_expected(err)  # bad input, said in full by the message
            if expected:
                print(f"{type(err).__name__}: {err}")
            else:
                traceback.print_exc()
                # numpy's or Keras's words for a broken input file name neither the file nor
                # the cure: if one of the job's inputs does not read, that is the message.
                broken = isinstance(err, Exception) and unreadable_input(snakemake.input)
                if broken:
                    err, expected = broken, True
                    print(f"layermaps: {broken}")
            terminal.write(
                f"layermaps: job {snakemake.rule} {wildcards} failed: {err}\n  full log: {snakemake.log[0]}\n"
            )
            if expected:
                raise SystemExit(1) from None  # exit non-zero without Python's traceback
            raise
        finally:
            write_job_record(rule=snakemake.rule, wildcards=wildcards, threads=threads, status=status)
