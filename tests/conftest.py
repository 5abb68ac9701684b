"""Shared fixtures: the real datasets, downloaded once into the data cache (layermaps.data.cache)."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from layermaps.data.cache import cache_dir, cached_datasets
from layermaps.data.datasets import load_raw
from layermaps.data.download import MIRROR_ENV, DownloadError
from layermaps.embed.reducers import REDUCERS
from layermaps.measured import dry_run_jobs as parse_dry_run

REPO = Path(__file__).resolve().parents[1]
# The real MNIST and Fashion-MNIST files, laid out as a mirror: fetched through the workflow's
# own download code ($LAYERMAPS_DATA_MIRROR, then config.yaml's mirrors; checksums verified)
# when the test session starts, unless already there.
SHARED_DATA = cache_dir()


def pytest_sessionstart(session):
    """Fill the data cache before any test (xdist starts its workers after this, in the main
    process; a worker finds the files there)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    mirrors = yaml.safe_load((REPO / "config.yaml").read_text())["data"]["mirrors"]
    try:
        cached_datasets(
            mirrors,
            folder=SHARED_DATA,
            env_mirror=os.environ.get(MIRROR_ENV),
            log=reporter.write_line if reporter else print,
        )
    except DownloadError as err:
        pytest.exit(
            f"the tests need the real MNIST and Fashion-MNIST files in {SHARED_DATA} "
            f"(LAYERMAPS_DATA_CACHE): {err}",
            returncode=1,
        )


# `make test` runs the tests in parallel processes (pytest -n auto): each module's tests go to one
# process, so its module fixtures are made once, and so do all the modules that share a session
# run (tiny_run, figures_run), which is made once. (xdist's own --dist loadgroup does not group
# under pytest 9 here: its marks never reached the scheduler.)
SHARED_RUNS = ("figures_run", "tiny_run")


@functools.cache
def scheduling_group(module: str) -> str:
    """The scheduling group of a test module (a path like tests/test_x.py): the session run it
    uses, else the module itself."""
    text = (REPO / module).read_text() if (REPO / module).is_file() else ""
    return next((run for run in SHARED_RUNS if re.search(rf"\b{run}(_copy)?\b", text)), module)


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class SharedRunScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scheduling_group(nodeid.split("::")[0])

    return SharedRunScheduling(config, log)


# Screenshots of the browser tests (tests/test_browser.py) lie in a folder of this name in each
# test's temporary folder; the summary at the end of a run lists them (xdist workers' too).
SCREENSHOTS = "screenshots"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):
        return
    shots = sorted(config._tmp_path_factory.getbasetemp().glob(f"**/{SCREENSHOTS}/*.png"))
    if shots:
        terminalreporter.section("screenshots of the browser tests")
        for path in shots:
            terminalreporter.write_line(str(path))


def skip_unless_ci(reason: str) -> None:
    """A module whose real component (a browser, a SLURM cluster) is missing: skipped on a user's
    machine, a failure under CI=true, so that a green CI means those tests ran."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA  # filled in pytest_sessionstart


def _small(folder: Path, n_train: int, n_test: int):
    raw = load_raw(folder)
    rng = np.random.default_rng(0)
    tr = np.sort(rng.choice(len(raw["train_labels"]), n_train, replace=False))
    te = np.sort(rng.choice(len(raw["test_labels"]), n_test, replace=False))
    return (
        raw["train_images"][tr].astype(np.float32) / 255,
        raw["train_labels"][tr],
        raw["test_images"][te].astype(np.float32) / 255,
        raw["test_labels"][te],
    )


@pytest.fixture(scope="session")
def mnist_small(shared_data):
    """(x_train, y_train, x_test, y_test): 2,000 / 500 real MNIST rows, float32 in [0, 1]."""
    return _small(shared_data / "mnist", 2000, 500)


@pytest.fixture(scope="session")
def mnist50(mnist_small):
    """1,000 train / 200 test real MNIST rows, PCA-reduced to 50 dims (fitted on train)."""
    from sklearn.decomposition import PCA

    x, y, xt, yt = mnist_small
    x, y, xt, yt = x[:1000], y[:1000], xt[:200], yt[:200]
    pca = PCA(50, random_state=0).fit(x)
    return pca.transform(x).astype(np.float32), y, pca.transform(xt).astype(np.float32), yt


@pytest.fixture(scope="session")
def fashion_small(shared_data):
    """(x_train, y_train, x_test, y_test): 2,000 / 500 real Fashion-MNIST rows."""
    return _small(shared_data / "fashion-mnist", 2000, 500)


# ---- running the real workflow -------------------------------------------------------------

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def write_config(workdir: Path, **overrides) -> Path:
    """config.yaml in workdir: the repo's default config as one study of MNIST and
    Fashion-MNIST with the seed MLP (without its snapshots: it trains by the rule `train`, as
    every model without them), the MSDS sweep without its repeats and the five reducers
    without variants (no `studies:`, so every model trains on every dataset it allows; tests of
    studies pass their own), deep-updated with overrides."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    del config["studies"]
    config["datasets"] = ["mnist", "fashion-mnist"]
    config["models"] = {
        "seed_mlp": {k: v for k, v in config["models"]["seed_mlp"].items() if k != "snapshots"}
    }
    config["sweeps"] = {"msds": {k: v for k, v in config["sweeps"]["msds"].items() if k != "repeats"}}
    config["reducers"] = {name: s for name, s in config["reducers"].items() if "method" not in s}

    def update(base, new):
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                update(base[key], value)
            else:
                base[key] = value

    update(config, overrides)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# snakemake-executor-plugin-slurm 2.8.0 runs `scontrol show config` (timeout 10 s) at every
# Snakemake start whenever sinfo is on PATH: on a machine whose cluster is stopped, every start
# waits 10 s. Runs that do not use SLURM get a PATH whose folders holding the SLURM client tools
# are replaced by a copy (symbolic links) without them.
SLURM_TOOLS = {
    "sinfo",
    "sacct",
    "squeue",
    "scontrol",
    "sbatch",
    "scancel",
    "srun",
    "salloc",
    "sacctmgr",
    "sstat",
    "sreport",
    "sprio",
    "sshare",
    "sdiag",
    "strigger",
    "sattach",
}


@functools.cache
def path_without_slurm(path: str) -> str:
    import atexit
    import tempfile

    folders = []
    for folder in path.split(os.pathsep):
        if folder and (Path(folder) / "sinfo").exists():
            farm = Path(tempfile.mkdtemp(prefix="path-without-slurm-"))
            atexit.register(shutil.rmtree, farm, True)
            for entry in Path(folder).iterdir():
                if entry.name not in SLURM_TOOLS:
                    (farm / entry.name).symlink_to(entry)
            folder = str(farm)
        folders.append(folder)
    return os.pathsep.join(folders)


def snakemake(
    workdir: Path,
    *args: str,
    check: bool = True,
    timeout: int = 900,
    tracking_uri: str | None = None,
    project: Path = REPO,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """Run the real snakemake CLI on the Snakefile of `project` (the repo, or a copy of it) in
    workdir (default MLflow store under results/ unless tracking_uri names another)."""
    env = {**os.environ, "LAYERMAPS_DATA_MIRROR": f"file://{SHARED_DATA}", **(env or {})}
    if not any("slurm" in arg for arg in args):
        env["PATH"] = path_without_slurm(env.get("PATH", os.defpath))
    env.pop("MLFLOW_TRACKING_URI", None)
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(project / "Snakefile"), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def dry_run_jobs(work: Path, *args: str, **kwargs) -> list[dict]:
    """Rule, wildcards, threads and priority of every job a dry run would execute."""
    out = snakemake(work, "-n", *args, **kwargs).stdout
    return [
        {
            "rule": rule,
            "wildcards": fields.get("wildcards", ""),
            "threads": int(fields.get("threads", 1)),
            "priority": float(fields.get("priority", 0)),
        }
        for rule, fields in parse_dry_run(out)
    ]


def planned_jobs(work: Path, *args: str, **kwargs) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run would execute."""
    return [(j["rule"], j["wildcards"]) for j in dry_run_jobs(work, *args, **kwargs)]


@pytest.fixture
def run_snakemake():
    return snakemake


# ---- one tiny run shared by the workflow tests ----------------------------------------------
# Read-only tests inspect `tiny_run`; tests that change something take `tiny_run_copy`.
TINY_REDUCERS = {name: dict(cls.small_settings) for name, cls in REDUCERS.items()}
TINY_SOURCES = ["raw", "seed_mlp/hidden2", "msds_w1/hidden2"]  # msds_w1/hidden2: a 1-unit layer
TINY_K = [3, 5, 10]
TINY_CONFIG = dict(
    datasets=["mnist"],
    data={"subsample": {"train": 600, "test": 200}},
    models={"seed_mlp": {"epochs": 2}},
    sweeps={"msds": {"base": {"epochs": 2}, "vary": {"hidden[1]": [1, 2]}, "repeats": 2}},
    reducers=TINY_REDUCERS,
    embed={"models": ["seed_mlp", "msds_w1"], "layers": ["hidden2"]},
    knn={"k": TINY_K},
)
TINY_TARGETS = (
    ["results/knn_summary.csv"]
    + [
        f"results/mnist/{kind}/{m}/{f}"
        for m in ("seed_mlp", "msds_w1", "msds_w2")
        for kind, f in (("models", "metrics.json"), ("activations", "run_id"))
    ]
    + [f"results/mnist/models/{m}_seed2/metrics.json" for m in ("msds_w1", "msds_w2")]
)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A completed tiny run (MNIST 600 / 200, three models (the sweep's two with a second seed
    each), five reducers, a real MLflow store)
    through the real CLI with 2 cores: the folder snakemake ran in."""
    work = tmp_path_factory.mktemp("tiny_run")
    write_config(work, **TINY_CONFIG)
    snakemake(work, "--cores", "2", *TINY_TARGETS)
    return work


@pytest.fixture(scope="session")
def figures_run(tmp_path_factory):
    """The tiny run of every figure (tests/test_workflow_figures.py's config: MNIST 600 / 200,
    two models of the sweep, PCA), the default target: (folder, config)."""
    from test_workflow_figures import configure

    work = tmp_path_factory.mktemp("figures")
    config = configure(work)
    snakemake(work, "--cores", "2")  # the default target: everything, figures included
    return work, config


@pytest.fixture
def tiny_run_copy(tiny_run, tmp_path) -> Path:
    """A private copy of the tiny run: results, MLflow store, Snakemake's metadata and config,
    modification times kept (they decide what is stale). Its MLflow experiments still name
    the original's artifact folder: new runs add folders there, never overwrite."""
    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, symlinks=True)
    return work


def _project_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [f for f in out.split("\0") if f and (REPO / f).is_file()]


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """A copy of the project's source as a checkout holds it (no .venv, results or .git),
    modification times kept: tests edit its code and run its Snakefile."""
    project = tmp_path / "project"
    for rel in _project_files():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, project / rel)
    return project


# uvicorn's line once it listens: the port it bound (the server picks it: no port chosen here
# that another test's server could take first) and the proof that this server bound it.
LISTENING = re.compile(r"Uvicorn running on https?://\S+:(\d+)")


def wait_listening(proc: subprocess.Popen, log: Path, what: str, timeout: float = 600) -> int | None:
    """The port `proc` (an mlflow server writing to `log`) serves on, once it answers /health; or
    None if it exited first (e.g. its port was taken). With several workers uvicorn names the
    port before a worker accepts a connection: /health says when one does. The limit only
    keeps a broken server from hanging the suite."""
    deadline, port = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        if port is None and (m := LISTENING.search(log.read_text(errors="replace"))):
            port = int(m.group(1))
        if port is not None:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10)
                return port
        time.sleep(0.2)
    pytest.fail(f"{what} did not start within {timeout:g} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def mlflow_process(
    command: str,
    store: Path,
    *extra: str,
    before=lambda: None,
    own_group: bool = False,
    host: str = "127.0.0.1",
    env: dict | None = None,
):
    """A real `mlflow server` or `mlflow ui` (command) on a port it picks itself, on `host`, for the
    SQLite store: yields (url, process); the url names 127.0.0.1, or this machine's name when
    host is 0.0.0.0 (as a compute node reaches it). Its output goes to <store>.log; `env` adds
    to its environment. `before()` runs while it starts; with own_group it runs in its own
    process group, which a test may stop or kill (it is continued and killed at the end)."""
    store.parent.mkdir(parents=True, exist_ok=True)
    log = store.with_suffix(".log")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "mlflow"),
                command,
                "--host",
                host,
                "--port",
                "0",
                "--backend-store-uri",
                f"sqlite:///{store}",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=own_group,
            env={**os.environ, **(env or {})},
        )
    try:
        before()
        port = wait_listening(proc, log, f"mlflow {command}")
        if port is None:
            pytest.fail(f"mlflow {command} exited:\n{log.read_text()[-3000:]}")
        url = f"http://{socket.gethostname() if host == '0.0.0.0' else host}:{port}"
        yield url, proc
    finally:
        if own_group:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
        else:
            proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def mlflow_server(folder: Path):
    """A real `mlflow server`, its store and artifacts in folder: yields its URL."""
    with mlflow_process(
        "server", folder / "mlflow.db", "--artifacts-destination", str(folder / "artifacts"), "--workers", "1"
    ) as (url, _):
        yield url


def cluster_recipe() -> list[str]:
    """The commands of README "On a cluster" (its first bash block), one per logical line."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("### On a cluster") :]
    start = section.index("```bash\n") + len("```bash\n")
    block = section[start : section.index("```", start)]
    return [
        line.strip()
        for line in block.replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


@contextlib.contextmanager
def recipe_server(work: Path, home: Path):
    """The tracking server of README "On a cluster", started by its own commands as written (in
    `work`, `home` as $HOME, the port changed; another port if that one is taken): yields (the
    commands that set the jobs' environment and run snakemake, the server's URL, its output).
    A user runs them from the project folder: `work` gets a link to the project's profiles."""
    lines = cluster_recipe()
    (server,) = [line for line in lines if "mlflow server" in line]
    (work / "profiles").symlink_to(REPO / "profiles")
    env = {
        **os.environ,
        "HOME": str(home),  # the commands of an activated .venv
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    port = free_port()
    for attempt in range(20):
        script = lines[: lines.index(server) + 1]
        log = work / f"recipe-server.{attempt}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                ["bash", "-ec", "\n".join(script).replace("5000", str(port)) + "\nwait"],
                cwd=work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            if wait_listening(proc, log, "the README's mlflow server") == port:
                rest = "\n".join(line for line in lines if line != server)
                rest = rest.replace("5000", str(port))
                yield rest, f"http://{socket.gethostname()}:{port}", log
                return
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        port = free_port()  # taken (by another test's server?): another one
    pytest.fail("the README's mlflow server did not start on any of 20 ports")


def free_port() -> int:
    """A port nobody listens on now: only for a command that names its port (the README's), which
    tries another when this one is taken by the time it starts."""
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]
