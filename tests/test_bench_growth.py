"""`python -m layermaps.bench_growth`: the datasets it grows, its fits and table, and its plan
through the real snakemake CLI (a dry run: the timing itself is a benchmark, never a test)."""

import math
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from layermaps.bench_growth import NOISE, fit_line, fit_power, growth_images, growth_table


def test_grown_rows_repeat_the_data_in_order_with_bounded_noise():
    images = np.random.default_rng(1).integers(0, 256, size=(7, 4, 4), dtype=np.uint8)
    labels = np.arange(7)
    x, y = growth_images(images, labels, 23)
    assert x.shape == (23, 4, 4) and x.dtype == np.uint8
    assert y.tolist() == [i % 7 for i in range(23)]
    diff = x.astype(int) - images[np.arange(23) % 7].astype(int)
    assert np.abs(diff).max() <= NOISE and np.abs(diff).max() > 0
    assert len({row.tobytes() for row in x}) == 23  # no two copies equal
    again, _ = growth_images(images, labels, 23)
    np.testing.assert_array_equal(x, again)  # seeded


def test_fits_recover_a_power_law_and_a_line():
    rows = [10_000, 50_000, 200_000]
    assert fit_power(rows, [3e-4 * n**1.5 for n in rows]) == pytest.approx(1.5)
    c, d = fit_line(rows, [300 + 0.002 * n for n in rows])
    assert (c, d) == (pytest.approx(300), pytest.approx(0.002))
    assert math.isnan(fit_power([10_000], [2.0])) and math.isnan(fit_line([10_000], [2.0])[1])


def test_the_table_gives_each_rule_its_sizes_exponent_and_memory_slope():
    costs = {n: {"neighbors": {"wall": 1e-8 * n**2, "rss": 200 + 0.01 * n}} for n in (10_000, 40_000)}
    costs[10_000]["embed tsne"] = {"wall": 5.0, "rss": 600.0}  # one size only: no fit
    costs[80_000] = {"neighbors": {"wall": 16.0 * 2**1.5, "rss": 1000.0}}  # flatter at the top
    lines = growth_table(costs)
    assert lines[0].startswith("| rule | 10,000 rows: s, MB | 40,000 rows: s, MB | 80,000 rows: s, MB |")
    assert "| embed tsne | 5.0, 600 | - | - | - | - | - |" in lines
    # b over the three sizes (least squares of the logarithms) and 1.5 between the last two
    assert "| neighbors | 1.0, 300 | 16.0, 600 | 45.3, 1,000 | 1.86 | 1.50 | 100 |" in lines


def test_a_dry_run_plans_every_reducer_on_both_sources_at_each_size(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "layermaps.bench_growth",
            "--project",
            str(REPO),
            "--rows",
            "300",
            "600",
            "--out",
            str(tmp_path),
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.count("Job stats:") == 2
    assert re.findall(r"^embed\s+(\d+)$", out, re.M) == ["10", "10"]  # 5 reducers x (raw, hidden2)
    with np.load(tmp_path / "n600" / "growth.npz") as data:
        assert data["x_train"].shape == (600, 784) and data["x_test"].shape == (10_000, 784)
    assert not (tmp_path / "n600" / "results").exists()  # planned, nothing run
