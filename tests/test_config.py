"""Bad configs are refused by the real snakemake CLI before any job, naming the key."""

import pytest

from conftest import snakemake, write_config

pytestmark = pytest.mark.workflow  # each test runs the real snakemake CLI

BAD_CONFIGS = [
    # (overrides, words the message must contain)
    ({"datasetz": ["mnist"]}, ["datasetz", "Additional properties"]),
    ({"datasets": ["mnist", "cifar10"]}, ["datasets[1]", "cifar10", "fashion-mnist"]),
    ({"data": {"subsample": {"train": -5}}}, ["data.subsample.train", "-5"]),
    ({"data": {"subsample": {"test": 0}}}, ["data.subsample.test", "0"]),
    ({"models": {"seed_mlp": {"optimizer": {"name": "adam", "learning_rate": "1e-3"}}}},
     ["models.seed_mlp.optimizer.learning_rate", "1e-3", "1.0e-3"]),
    ({"models": {"seed_mlp": {"hidden": [256, 0]}}}, ["models.seed_mlp.hidden[1]", "0"]),
    ({"models": {"seed_mlp": {"optimizer": {"name": "adamm"}}}}, ["optimizer.name", "adamm", "rmsprop"]),
    ({"models": {"seed_mlp": {"dropout": 1.0}}}, ["models.seed_mlp.dropout", "1.0"]),
    ({"knn": {"k": [0, 5]}}, ["knn.k[0]", "0"]),
    ({"threads": {"train": "two"}}, ["threads.train", "two"]),
    ({"reducers": {"umapp": {}}}, ["reducers", "umapp", "umap"]),
    ({"reducers": {"umap": {"n_neighbours": 15}}}, ["reducers.umap", "n_neighbours", "n_neighbors"]),
    ({"reducers": {"tsne_p40": {"method": "tsnee"}}}, ["reducers.tsne_p40", "tsnee", "tsne"]),
    ({"reducers": {"tsne_p40": {"method": "tsne", "perplexty": 40}}}, ["reducers.tsne_p40", "perplexty"]),
    ({"reducers": {"unreduced": {"method": "pca"}}}, ["reducers", "unreduced"]),
    ({"embed": {"fit": {"first": 0}}}, ["embed.fit", "first", "stratified"]),
    ({"embed": {"fit": {"umapp": {"first": 10}}}}, ["embed.fit", "umapp", "not among"]),
    ({"embed": {"models": ["seed_mlp", "nosuch"]}}, ["embed.models", "nosuch"]),
    ({"sweeps": {"wide": {"base": {"hidden": [64, 64]}, "vary": {"hidden[5]": [1, 2]}}}},
     ["sweep 'wide'", "hidden[5]"]),
    ({"models": {"seed_mlp": {"hidden": [64], "epocs": 3}}}, ["models.seed_mlp", "epocs", "epochs"]),
]


@pytest.mark.parametrize("overrides,words", BAD_CONFIGS, ids=[str(i) for i in range(len(BAD_CONFIGS))])
def test_bad_config_refused_before_any_job(tmp_path, overrides, words):
    write_config(tmp_path, **overrides)
    proc = snakemake(tmp_path, "--cores", "1", check=False, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    for word in words:
        assert word in output, f"{word!r} missing from:\n{output[-3000:]}"
    assert not (tmp_path / "results").exists(), "a job ran on an invalid config"


def test_default_config_is_valid_and_dry_run_works(tmp_path):
    # No wall-time limit: it measures the machine, not the code. That the DAG is built without
    # heavy imports is checked directly (test_modelspec.py::test_import_stays_light,
    # test_reducers.py::test_import_is_cheap).
    write_config(tmp_path)
    proc = snakemake(tmp_path, "-n", "--quiet", "rules")
    assert "download" in proc.stdout + proc.stderr
