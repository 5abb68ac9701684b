"""workflow/resources.yaml: every rule's entry read and checked, a broken entry named, and the
requests that grow with a job's rows (layermaps.resources.request)."""

from pathlib import Path

import pytest

from layermaps.errors import UserError
from layermaps.resources import KEYS, ROWS_OF, read_resources, request

REPO = Path(__file__).resolve().parents[1]


def test_the_workflow_table_gives_every_entry_memory_and_time():
    table = read_resources(REPO / "workflow" / "resources.yaml")
    assert {"train", "embed", "plot", "prepare"} <= set(table)
    assert all(e["mem_mb"] >= 1000 and e["runtime"] >= 10 for e in table.values())
    # the rules whose cost grows with their rows say how (python -m layermaps.bench_growth)
    grows = {name for name, e in table.items() if "grows" in e}
    assert {"train", "activations", "neighbors", "embed", "ceiling", "plot_training"} <= grows <= set(ROWS_OF)


GROWS = {"mem_mb": 2500, "runtime": 30, "grows": {"rows": 60000, "mb_per_10k_rows": 200, "time_power": 1.5}}


def test_a_request_grows_with_the_rows_of_its_job():
    # 2,500 + 1.5 x 200 x 24 = 9,700 -> 10,000 MB; 30 x 5^1.5 = 335.4 -> 336 min
    assert request(GROWS, 300_000) == {"mem_mb": 10_000, "runtime": 336}
    assert request(GROWS, 60_000) == {"mem_mb": 2500, "runtime": 30}
    # fewer rows ask for less, never below 1,000 MB and 10 minutes
    assert request(GROWS, 30_000) == {"mem_mb": 2000, "runtime": 11}  # 1,600 MB, 10.6 min
    assert request(GROWS, 1_000) == {"mem_mb": 1000, "runtime": 10}
    # rows not known before the job's inputs exist, or an entry that does not grow: as written
    assert request(GROWS, None) == {"mem_mb": 2500, "runtime": 30}
    assert request({"mem_mb": 1500, "runtime": 10}, 10**6) == {"mem_mb": 1500, "runtime": 10}


@pytest.mark.parametrize(
    "text, problem",
    [
        ("plot: {mem_mb: 1000}", "entry 'plot' must give exactly mem_mb and runtime"),
        ("plot: {mem_mb: 1500.0, runtime: 10}", "plot.mem_mb must be a positive whole number, not 1500.0"),
        ("plot: {mem_mb: 1000, runtime: -1}", "plot.runtime must be a positive whole number"),
        ("plot: 1000", "entry 'plot' must give exactly"),
        (
            "plot: {mem_mb: 1000, runtime: 10, grows: {rows: 1, mb_per_10k_rows: 1, time_power: 1}}",
            "plot.grows: the workflow cannot tell the rows of plot's jobs",
        ),
        ("embed: {mem_mb: 1000, runtime: 10, grows: {rows: 100}}", "embed.grows must give exactly rows"),
        (
            "embed: {mem_mb: 1000, runtime: 10, grows: {rows: 0, mb_per_10k_rows: 1, time_power: 1}}",
            "embed.grows.rows must be a positive whole number, not 0",
        ),
        (
            "embed: {mem_mb: 1000, runtime: 10, grows: {rows: 9, mb_per_10k_rows: -1, time_power: 1}}",
            "embed.grows.mb_per_10k_rows must be a number >= 0, not -1",
        ),
        (
            "embed: {mem_mb: 1000, runtime: 10, grows: {rows: 9, mb_per_10k_rows: 1, time_power: .nan}}",
            "embed.grows.time_power must be a number from 0 to 3, not nan",
        ),
    ],
)
def test_a_broken_entry_is_named(tmp_path, text, problem):
    path = tmp_path / "resources.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=problem.replace("(", r"\(").replace(".", r"\.")) as err:
        read_resources(path)
    assert str(path) in str(err.value)


@pytest.mark.workflow
def test_each_planned_job_asks_for_what_its_rows_need(tmp_path):
    """A dry run of the real workflow on a dataset that declares 300,000 training rows: every
    job of an entry that grows asks for that entry's request at its own rows (the dataset's, a
    fit subset's), more than the same job of 60,000 rows; the rest ask for their entry."""
    from conftest import snakemake, write_config
    from test_config import _declaring

    from layermaps.measured import dry_run_jobs, resource_rule

    _declaring(300_000, 784, "|u1")(tmp_path / "big.npz")
    write_config(
        tmp_path,
        datasets={"big": {"kind": "npz", "path": "big.npz", "scale": "255"}},
        models={"seed_mlp": {"epochs": 1}},
        sweeps={},
        reducers={"pca": {}, "umap": {}},
        embed={"models": ["seed_mlp"], "layers": ["hidden2"], "fit": {"umap": {"first": 20_000}}},
    )
    table = read_resources(REPO / "workflow" / "resources.yaml")
    jobs = dry_run_jobs(snakemake(tmp_path, "-n", "--cores", "2").stdout)
    seen = set()
    for rule, fields in jobs:
        entry = resource_rule(rule)
        if entry not in table or rule == "prepare":  # `all`, the plot rules (their shared entry);
            continue  # prepare's memory follows the declared bytes (test_workflow_datasets)
        asked = {
            k: int(v) for k, v in (p.split("=", 1) for p in fields["resources"].split(", ")) if k in KEYS
        }
        subset = ROWS_OF.get(entry) == "map" and "reducer=umap@first20000" in fields.get("wildcards", "")
        rows = 20_000 if subset else 300_000
        assert asked == request(table[entry], rows if "grows" in table[entry] else None), (rule, fields)
        if "grows" in table[entry]:
            seen.add(entry)
            if rows == 300_000:
                assert asked["runtime"] > table[entry]["runtime"] or asked["mem_mb"] > table[entry]["mem_mb"]
    assert seen == {name for name, e in table.items() if "grows" in e}
