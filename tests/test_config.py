"""Bad configs are refused by the real snakemake CLI before any job, naming the key.

Each case of BAD_CONFIGS is a bad input (a config value, a config file, a dataset, a
command-line override, an environment variable) and the words its one-line message must contain.
Every case runs the real CLI for real, on its cheapest jobs (a check that stopped refusing runs
the downloads and the test finds their files), and must exit with status 1. `python
tests/test_config.py` prints every case's real message as the Markdown table of README "When
something goes wrong".
"""

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import snakemake, write_config

pytestmark = pytest.mark.workflow  # each test runs the real snakemake CLI


@dataclass
class Bad:
    """One bad input: config overrides (deep-merged into the test config), and what else."""

    overrides: dict = field(default_factory=dict)
    words: list = field(default_factory=list)  # the message must contain each
    label: str = ""  # the bad input in words (default: the overrides as YAML)
    text: str = ""  # raw YAML appended to config.yaml (a duplicate key)
    files: dict = field(default_factory=dict)  # file name -> bytes or callable(path)
    args: tuple = ()  # extra snakemake arguments (--config, --configfile)
    env: dict = field(default_factory=dict)
    tracking_uri: str | None = None
    start: bool = False  # refused when the run starts (onstart), not while the DAG is built

    def describe(self) -> str:
        if self.label:
            return self.label
        return (
            "`"
            + yaml.safe_dump(self.overrides, default_flow_style=True, width=10**6, sort_keys=False).strip()
            + "`"
        )


def _npz(**arrays):
    return lambda path: np.savez(path, **arrays)


def _own(path, **extra):
    return {"datasets": {"mnist": {}, "mine": {"kind": "npz", "path": path, "scale": "none", **extra}}}


def header_only_npz(path, **arrays):
    """A .npz whose members given as (shape, dtype) are .npy headers alone: each declares that
    and holds no data (a few hundred bytes that declare any size; a compressed file of zeros
    does the same); members given as arrays are written whole."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for name, array in arrays.items():
            member = io.BytesIO()
            if isinstance(array, np.ndarray):
                np.lib.format.write_array(member, array)
            else:
                shape, dtype = array
                header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(member, header)
            z.writestr(f"{name}.npy", member.getvalue())
    return path


def _declaring(rows, width, dtype="<f4"):
    """header_only_npz of `rows` x `width` training inputs, 1,000 test rows and int64 labels:
    each array of more than 100,000 values (more than start-up reads) as its header alone."""

    def inputs(n):
        return np.zeros((n, width), dtype) if n * width <= 100_000 else ((n, width), dtype)

    def labels(n):
        return np.arange(n) % 2 if n <= 100_000 else ((n,), "<i8")

    return lambda path: header_only_npz(
        path, x_train=inputs(rows), y_train=labels(rows), x_test=inputs(1000), y_test=labels(1000)
    )


def _idx_folder(images_shape, magic=b"\x00\x00\x08\x03"):
    """The four .gz files of an IDX folder: the training images' header alone (declaring
    images_shape), the other three real and small."""
    import gzip
    import struct

    def idx(a):
        return struct.pack(f">HBB{a.ndim}I", 0, 8, a.ndim, *a.shape) + a.tobytes()

    labels = (np.arange(30) % 3).astype(np.uint8)
    header = magic + struct.pack(">3I", *images_shape)
    return {
        "letters/train-images-idx3-ubyte.gz": gzip.compress(header),
        "letters/train-labels-idx1-ubyte.gz": gzip.compress(idx(labels)),
        "letters/t10k-images-idx3-ubyte.gz": gzip.compress(idx(np.zeros((30, 4, 4), np.uint8))),
        "letters/t10k-labels-idx1-ubyte.gz": gzip.compress(idx(labels)),
    }


_X, _Y = np.ones((60, 4)), np.arange(60) % 3
MNIST = {"datasets": ["mnist"]}
LETTERS = {"datasets": {"mnist": {}, "letters": {"kind": "idx", "path": "letters"}}}

BAD_CONFIGS = [
    # Bad(overrides, words the message must contain); a plain (overrides, words) tuple is one too
    ({"datasetz": ["mnist"]}, ["datasetz", "Additional properties"]),
    ({"datasets": ["mnist", "cifar10"]}, ["datasets[1]", "cifar10", "fashion-mnist"]),
    ({"data": {"subsample": {"train": -5}}}, ["data.subsample.train", "-5"]),
    ({"data": {"subsample": {"test": 0}}}, ["data.subsample.test", "0"]),
    (
        {"models": {"seed_mlp": {"optimizer": {"name": "adam", "learning_rate": "1e-3"}}}},
        ["models.seed_mlp.optimizer.learning_rate", "1e-3", "1.0e-3"],
    ),
    ({"models": {"seed_mlp": {"hidden": [256, 0]}}}, ["models.seed_mlp.hidden[1]", "0"]),
    ({"models": {"seed_mlp": {"optimizer": {"name": "adamm"}}}}, ["optimizer.name", "adamm", "rmsprop"]),
    ({"models": {"seed_mlp": {"dropout": 1.0}}}, ["models.seed_mlp.dropout", "1.0"]),
    ({"knn": {"k": [0, 5]}}, ["knn.k[0]", "0"]),
    ({"threads": {"train": "two"}}, ["threads.train", "two"]),
    ({"reducers": {"umapp": {}}}, ["reducers", "umapp", "umap"]),
    ({"reducers": {"umap": {"n_neighbours": 15}}}, ["reducers.umap", "n_neighbours", "n_neighbors"]),
    ({"reducers": {"tsne_p40": {"method": "tsnee"}}}, ["reducers.tsne_p40", "tsnee", "tsne"]),
    ({"reducers": {"tsne_p40": {"method": "tsne", "perplexty": 40}}}, ["reducers.tsne_p40", "perplexty"]),
    ({"reducers": {"unreduced": {"method": "pca"}}}, ["reducers", "unreduced", "reserved"]),
    ({"embed": {"fit": {"first": 0}}}, ["embed.fit", "first", "stratified"]),
    ({"embed": {"fit": {"umapp": {"first": 10}}}}, ["embed.fit", "umapp", "not among"]),
    ({"embed": {"models": ["seed_mlp", "nosuch"]}}, ["embed.models", "nosuch"]),
    (
        {"sweeps": {"wide": {"base": {"hidden": [64, 64]}, "vary": {"hidden[5]": [1, 2]}}}},
        ["sweep 'wide'", "hidden[5]"],
    ),
    ({"models": {"seed_mlp": {"hidden": [64], "epocs": 3}}}, ["models.seed_mlp", "epocs", "epochs"]),
    # ---- reducer settings: each value's type from its library's own signature and docstring
    (
        {"reducers": {"umap": {"n_neighbors": "15"}}},
        ["reducers.umap.n_neighbors", "a string", "whole number", "default: 15", "without quotes"],
    ),
    ({"reducers": {"umap": {"n_neighbors": 15.5}}}, ["reducers.umap.n_neighbors", "whole number"]),
    ({"reducers": {"umap": {"low_memory": 1}}}, ["reducers.umap.low_memory", "true or false"]),
    (
        {"reducers": {"tsne_p40": {"method": "tsne", "perplexity": "forty"}}},
        ["reducers.tsne_p40.perplexity", "openTSNE.TSNE", "a number"],
    ),
    ({"reducers": {"tsne": {"transform": {"k": "25"}}}}, ["reducers.tsne.transform.k", "TSNEEmbedding"]),
    ({"reducers": {"trimap": {"knn_k": True}}}, ["reducers.trimap.knn_k", "a boolean", "TriMAPReducer"]),
    ({"reducers": {"pacmap": {"lr": "fast"}}}, ["reducers.pacmap.lr", "pacmap.PaCMAP", "a number"]),
    # ---- subsample sizes: the minimum prepare's stratified split needs, the dataset's size
    ({"data": {"subsample": {"train": 20}}}, ["data.subsample.train = 20", "at least 55", "10"]),
    (
        {"data": {"subsample": {"train": 60}, "validation_fraction": 0.1}},
        ["data.subsample.train = 60", "at least 91"],
    ),
    ({"data": {"subsample": {"test": 20000}}}, ["data.subsample.test = 20000", "10,000", "mnist"]),
    ({"data": {"subsample": {"train": 70000}}}, ["data.subsample.train = 70000", "60,000"]),
    (
        {
            "datasets": {"mnist": {}, "two_cosines": {"n_per_class": 500}},
            "data": {"subsample": {"train": 5000}},
        },
        ["data.subsample.train = 5000", "1,000", "two_cosines"],
    ),
    # ---- embedded layers every embedded model has
    ({"embed": {"layers": ["hidden3"]}}, ["embed.layers", "hidden3", "seed_mlp", "hidden1, hidden2, output"]),
    (
        {
            "studies": {"s": {"models": ["one"], "embed": {"layers": ["hidden2"]}}},
            "models": {"one": {"hidden": [16]}},
        },
        ["studies.s.embed.layers", "hidden2", "model one", "hidden1, output", "studies.s.embed.models"],
    ),
    # ---- results_dir and the local MLflow store
    ({"results_dir": "/"}, ["results_dir", "filesystem root"]),
    ({"results_dir": "  "}, ["results_dir", "give a folder"]),
    ({"results_dir": "results/{dataset}"}, ["results_dir", "braces"]),
    Bad({"results_dir": "config.yaml"}, ["results_dir", "is a file, not a folder"]),
    (
        {"tracking": {"artifact_root": "s3://bucket/runs"}},
        ["tracking.artifact_root", "not a URI", "MLFLOW_TRACKING_URI"],
    ),
    # ---- config files: a key given twice (Snakemake's YAML loader keeps the last)
    Bad(
        label="config.yaml with the top-level key `knn:` twice",
        text="knn:\n  k: [3]\n",
        words=["config.yaml, line", "'knn'", "given twice", "first on line"],
    ),
    Bad(
        label="`--configfile extra.yaml` giving `data.subsample.train` twice",
        args=("--configfile", "extra.yaml"),
        files={"extra.yaml": b"data:\n  subsample:\n    train: 600\n    train: 700\n"},
        words=["extra.yaml, line 4", "'train'", "data.subsample.train", "first on line 3"],
    ),
    # ---- command-line overrides: nested values are coerced to the schema's types, then checked
    Bad(
        label='`--config \'data={"subsample":{"train":"many"}}\'`',
        args=("--config", 'data={"subsample":{"train":"many"}}'),
        words=["data.subsample.train", '"many"', "null or an integer >= 20"],
    ),
    Bad(
        label="`--config 'knn={\"k\":[0,5]}'`",
        args=("--config", 'knn={"k":[0,5]}'),
        words=["knn.k[0] = 0", "minimum of 1"],
    ),
    Bad(label="`--config threads=2`", args=("--config", "threads=2"), words=["threads = 2", "object"]),
    # ---- datasets of one's own
    Bad(_own("missing.npz"), ["datasets.mine.path", "missing.npz", "no such file"]),
    Bad(
        _own("bad.npz"),
        ["datasets.mine.path", "not a .npz file"],
        label="`datasets.mine` a text file named .npz",
        files={"bad.npz": b"not a zip"},
    ),
    Bad(
        _own("mine.npz"),
        ["datasets.mine.path", "no array(s) x_test, y_test", "x_train, y_train"],
        label="`datasets.mine` a .npz without x_test and y_test",
        files={"mine.npz": _npz(x_train=_X, y_train=_Y)},
    ),
    Bad(
        _own("mine.npz"),
        ["x_train has shape (60, 4) but y_train (59,)", "one label per row"],
        label="`datasets.mine` a .npz with 60 x_train rows and 59 labels",
        files={"mine.npz": _npz(x_train=_X, y_train=_Y[:59], x_test=_X, y_test=_Y)},
    ),
    Bad(
        {"datasets": {"mnist": {}, "letters": {"kind": "idx", "path": "no/such/folder"}}},
        ["datasets.letters.path", "no such folder"],
    ),
    Bad(
        {"datasets": {"mnist": {}, "letters": {"kind": "idx", "path": "empty"}}},
        ["datasets.letters.path", "holds no IDX files"],
        files={"empty/README": b"nothing here"},
    ),
    # ---- what a dataset's files declare, read from their headers before anything reads the data
    Bad(
        _own("big.npz"),
        [
            "datasets.mine.path = big.npz",
            "4.0 GB",
            "x_train of big.npz: 1,000,000 x 1,000 float32 (4.0 GB)",
            "data.max_dataset_gb = 2",
            "raise data.max_dataset_gb",
        ],
        label="`datasets.mine` a 9 KB .npz whose header declares 1,000,000 x 1,000 float32",
        files={"big.npz": _declaring(1_000_000, 1_000)},
    ),
    Bad(
        LETTERS,
        [
            "datasets.letters.path = letters",
            "letters/train-images-idx3-ubyte.gz: 600,000 x 100 x 100 uint8 (6.0 GB)",
            "data.max_dataset_gb = 2",
        ],
        label="`datasets.letters` an IDX folder whose images header declares 600,000 x 100 x 100",
        files=_idx_folder((600_000, 100, 100)),
    ),
    Bad(
        LETTERS,
        [
            "datasets.letters.path = letters",
            "train-images-idx3-ubyte.gz: wrong magic",
            "in the IDX format of MNIST",
        ],
        label="`datasets.letters` an IDX folder whose images file is not IDX",
        files=_idx_folder((30, 4, 4), magic=b"PK\x03\x04"),
    ),
    # ---- a dataset named like one of the workflow's own files in results_dir
    Bad(
        {"datasets": {"mnist": {}, "mlflow.db": {"kind": "two_cosines"}}},
        ["datasets.mlflow.db", "reserved", "results/mlflow.db is the local MLflow store (tracking.store)"],
    ),
    # ---- a value in an extra --configfile is what it is in config.yaml: never coerced
    Bad(
        label='`--configfile extra.yaml` giving `reducers.umap.n_neighbors: "15"` (quoted)',
        args=("--configfile", "extra.yaml"),
        files={"extra.yaml": b'reducers:\n  umap:\n    n_neighbors: "15"\n'},
        words=['reducers.umap.n_neighbors = "15" is a string (quoted)', "without quotes"],
    ),
    # ---- the environment
    Bad(
        MNIST,
        ["LAYERMAPS_DATA_MIRROR=ftp://mirror.example/mnist", "file:// or http(s)://"],
        label="`LAYERMAPS_DATA_MIRROR=ftp://mirror.example/mnist`",
        env={"LAYERMAPS_DATA_MIRROR": "ftp://mirror.example/mnist"},
    ),
    Bad(
        MNIST,
        ["LAYERMAPS_DATA_MIRROR=file://data/mirror", "does not exist", "three slashes"],
        label="`LAYERMAPS_DATA_MIRROR=file://data/mirror` (two slashes)",
        env={"LAYERMAPS_DATA_MIRROR": "file://data/mirror"},
    ),
    Bad(
        MNIST,
        ["MLFLOW_TRACKING_URI=http://127.0.0.1:9", "does not answer", "mlflow server"],
        label="`MLFLOW_TRACKING_URI=http://127.0.0.1:9` (no server there)",
        tracking_uri="http://127.0.0.1:9",
        start=True,
    ),
]
BAD_CONFIGS = [c if isinstance(c, Bad) else Bad(*c) for c in BAD_CONFIGS]
FRAME = re.compile(r'^\s*File ".*", line \d+', re.M)


def run_bad(work: Path, case: Bad):
    """Write the case's config and files into work and run the real CLI: (process, output)."""
    write_config(work, **case.overrides)
    if case.text:
        with open(work / "config.yaml", "a") as f:
            f.write(case.text)
    for name, content in case.files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        content(path) if callable(content) else path.write_bytes(content)
    # A real run, not a dry run (-n writes nothing, so "nothing written" could not fail), of
    # cheap jobs only: the downloads (from the file:// mirror), or one download for a check made
    # when the run starts. A check that stopped refusing runs them, and the test sees their files.
    mode = ("results/mnist/raw/download.run_id",) if case.start else ("--until", "download")
    proc = snakemake(
        work,
        "--cores",
        "1",
        *mode,
        *case.args,
        check=False,
        timeout=300,
        env=case.env,
        tracking_uri=case.tracking_uri,
    )
    return proc, proc.stdout + proc.stderr


def message(output: str) -> str:
    """The `layermaps: ...` message of an output (with the lines that continue it)."""
    lines = output.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("layermaps: ")), None)
    if start is None:
        return ""
    return " ".join(l.strip() for l in lines[start:] if l.strip()).removeprefix("layermaps: ")


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=[str(i) for i in range(len(BAD_CONFIGS))])
def test_bad_config_refused_before_any_job(tmp_path, case):
    proc, output = run_bad(tmp_path, case)
    assert proc.returncode == 1, output  # README: exit status 1
    for word in case.words:
        assert word in output, f"{word!r} missing from:\n{output[-3000:]}"
    assert message(output), f"no one-line `layermaps: ` message in:\n{output[-3000:]}"
    assert "Traceback" not in output and not FRAME.search(output), output[-3000:]
    written = [p for p in (tmp_path / "results").rglob("*") if p.is_file()]
    assert not written, f"a job ran on an invalid config: {written}"


def test_enough_bad_inputs_are_covered():
    assert len(BAD_CONFIGS) >= 30


def test_a_nested_command_line_override_is_typed_by_the_schema(tmp_path):
    """`--config 'data={"subsample":{"train":600,"test":200}}'` arrives as strings (Snakemake
    reads nested values with YAML's BaseLoader): it plans exactly what the same subsample in
    config.yaml plans, with the same config (Snakemake's Config MD5 of the final config)."""
    override, in_file = tmp_path / "override", tmp_path / "in_file"
    for work in (override, in_file):
        work.mkdir()
    write_config(override, datasets=["mnist"])
    write_config(in_file, datasets=["mnist"], data={"subsample": {"train": 600, "test": 200}})
    runs = [
        snakemake(override, "-n", "--config", 'data={"subsample":{"train":600,"test":200}}'),
        snakemake(in_file, "-n"),
    ]
    md5 = [re.search(r"Config MD5: (\w+)", p.stdout + p.stderr).group(1) for p in runs]
    jobs = [sorted(re.findall(r"^rule (\w+):", p.stdout, re.M)) for p in runs]  # order varies
    assert md5[0] == md5[1] and jobs[0] == jobs[1] and "prepare" in jobs[0]
    assert "download" in jobs[0]  # and a nested override of a model's key or a reducer setting
    snakemake(
        override,
        "-n",
        "--config",
        'models={"seed_mlp":{"epochs":3}}',
        'reducers={"umap":{"n_neighbors":10},"pca":{}}',
    )


def refusal(proc) -> str:
    """The one line of a refusal at start-up: exit status 1, `layermaps: ...` the only line of
    stderr after Snakemake's own preamble, no traceback."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-3000:]
    lines = [l for l in proc.stderr.splitlines() if l.startswith("layermaps: ")]
    assert len(lines) == 1 and proc.stderr.rstrip().endswith(lines[0]), proc.stderr[-3000:]
    assert "Traceback" not in output and not FRAME.search(output), output[-3000:]
    return lines[0]


RESERVED = [
    "mlflow.db",
    "summary.md",
    "mlartifacts",
    "studies",
    "logs",
    "knn_summary.csv",
    "figures",
    "summary.run_id",
    "knn_summary.run_id",
    "mlflow.db-journal",
]


def test_the_reserved_names_are_the_results_folders_own():
    """Derived from layermaps.paths and the store settings: a store moved elsewhere frees its name
    and reserves its new folder."""
    from layermaps.data.checks import reserved_names

    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    assert set(RESERVED) <= set(reserved_names(config))
    config["tracking"].update(store="db/runs.db", artifact_root="/srv/artifacts")
    names = reserved_names(config)
    assert "db" in names and "mlflow.db" not in names and "mlartifacts" not in names
    assert {"summary.md", "studies", "logs", ".layermaps"} <= set(names)


@pytest.mark.parametrize("name", RESERVED)
def test_a_dataset_named_like_a_file_of_the_results_folder_is_refused(tmp_path, name):
    """Before: a traceback (a dataset folder `mlflow.db` beside the store) or a dataset hidden
    under the workflow's own files (`studies`, `logs`)."""
    write_config(tmp_path, datasets={"mnist": {}, name: {"kind": "two_cosines"}})
    line = refusal(snakemake(tmp_path, "-n", check=False, timeout=120))
    assert line.startswith(
        f"layermaps: invalid config: datasets.{name}: the name '{name}' is reserved: results/{name} is "
    ), line
    assert line.endswith("give the dataset another name."), line


def test_only_command_line_values_are_coerced_never_a_config_files(tmp_path):
    """A quoted "15" is refused in an extra --configfile as in config.yaml (before: Snakemake put
    the file's values in overwrite_config and they were coerced like --config strings); the
    same value given with --config, which Snakemake reads as a string anyway, is typed."""
    write_config(tmp_path)
    (tmp_path / "extra.yaml").write_text('reducers:\n  umap:\n    n_neighbors: "15"\n')
    line = refusal(snakemake(tmp_path, "-n", "--configfile", "extra.yaml", check=False, timeout=120))
    assert 'reducers.umap.n_neighbors = "15" is a string (quoted)' in line
    (tmp_path / "extra.yaml").write_text("reducers:\n  umap:\n    n_neighbors: 15\n")
    snakemake(
        tmp_path,
        "-n",
        "--configfile",
        "extra.yaml",
        "--config",
        'reducers={"umap":{"n_neighbors":"12"}}',
        "--quiet",
        "rules",
    )


def test_the_minimum_train_subsample_is_what_the_split_needs():
    """min_train_rows is scikit-learn's own limit: the stratified split of that many rows
    works, of one fewer fails."""
    from sklearn.model_selection import train_test_split

    from layermaps.data.checks import min_train_rows

    for classes, fraction in ((10, 1 / 6), (2, 0.2), (3, 0.1), (10, 0.5)):
        n = min_train_rows(classes, fraction)
        train_test_split(np.arange(n), test_size=fraction, stratify=np.arange(n) % classes, random_state=0)
        with pytest.raises(ValueError):
            train_test_split(
                np.arange(n - 1), test_size=fraction, stratify=np.arange(n - 1) % classes, random_state=0
            )


def test_default_config_is_valid_and_dry_run_works(tmp_path):
    # No wall-time limit: it measures the machine, not the code. That the DAG is built without
    # heavy imports is checked directly (test_modelspec.py::test_import_stays_light,
    # test_reducers.py::test_import_is_cheap).
    write_config(tmp_path)
    proc = snakemake(tmp_path, "-n", "--quiet", "rules")
    assert "download" in proc.stdout + proc.stderr


def markdown_table() -> str:
    """README "When something goes wrong": every bad input of BAD_CONFIGS and its real message."""
    import tempfile

    rows = ["| bad input | the message it gets |", "|---|---|"]
    for case in BAD_CONFIGS:
        with tempfile.TemporaryDirectory() as work:
            _, output = run_bad(Path(work), case)
        text = message(output).replace(work, "<work>").replace("|", "\\|")
        rows.append(f"| {case.describe().replace('|', chr(92) + '|')} | {text} |")
    return "\n".join(rows)


if __name__ == "__main__":  # python tests/test_config.py: the table of README
    sys.exit(print(markdown_table()))
