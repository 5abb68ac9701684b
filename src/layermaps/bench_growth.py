"""`python -m layermaps.bench_growth [--rows 10000 50000 200000]`: how each heavy rule's time
and memory grow with the training rows.

For each size, writes a dataset of your own (README "A dataset of your own"): MNIST's training
rows repeated to that many rows, each pixel moved by a seeded noise of at most +-8 levels, and
MNIST's 10,000 test rows as they are. Then runs the real workflow on it from scratch, as a user
would (`snakemake --cores N` on a config of its own: the seed MLP of config.yaml, raw pixels and
its hidden2 embedded with the five reducers, scored and measured), in <out>/n<rows>/. From every
size's job records (peak RSS and wall, layermaps.tracking.worktime) it fits, per rule (and per
reducer), wall = a x rows^b and peak memory = c + d x rows, and prints them as a Markdown table,
which it also writes to <out>/growth.md. A timing: never part of the tests, whose run of this
module is tiny (tests/test_bench_growth.py). Sizes already run are read again, not rerun.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

NOISE = 8  # pixel levels of the noise added to each repeated row
DATASET = "growth"
REDUCERS = ("pca", "tsne", "umap", "trimap", "pacmap")


def growth_images(images: np.ndarray, labels: np.ndarray, rows: int, seed: int = 0):
    """`rows` training rows: the given ones repeated in order, every pixel moved by a seeded
    integer noise in [-NOISE, NOISE] (clipped to 0..255), so no two copies are equal."""
    order = np.arange(rows) % len(images)
    rng = np.random.default_rng(seed)
    out = np.empty((rows, *images.shape[1:]), np.uint8)
    for start in range(0, rows, 10_000):  # in blocks: the int16 copy stays small
        stop = min(start + 10_000, rows)
        block = images[order[start:stop]].astype(np.int16)
        block += rng.integers(-NOISE, NOISE + 1, size=block.shape, dtype=np.int16)
        out[start:stop] = np.clip(block, 0, 255)
    return out, labels[order]


def growth_config(base: dict, data_path: Path, results_dir: str, reducers, epochs: int | None) -> dict:
    """A config of its own for one size: `base` (config.yaml) without its studies, sweeps and
    other models, its seed MLP (without snapshots) and reducers, the one dataset."""
    config = copy.deepcopy(base)
    for key in ("studies", "sweeps"):
        config.pop(key, None)
    model = {k: v for k, v in config["models"]["seed_mlp"].items() if k != "snapshots"}
    if epochs:
        model["epochs"] = epochs
    config.update(
        results_dir=results_dir,
        datasets={DATASET: {"kind": "npz", "path": str(data_path), "scale": "255"}},
        models={"seed_mlp": model},
        reducers={r: config["reducers"][r] for r in reducers},
    )
    config["embed"].update(models=["seed_mlp"], layers=["hidden2"])
    config["threads"] = {"train": 1, "embed": 1}
    return config


def fit_power(rows: list[int], values: list[float]) -> float:
    """b of value = a x rows^b, least squares on the logarithms (nan with fewer than two sizes)."""
    pairs = [(math.log(r), math.log(v)) for r, v in zip(rows, values) if v > 0]
    if len({x for x, _ in pairs}) < 2:
        return math.nan
    x, y = np.array(pairs).T
    return float(np.polyfit(x, y, 1)[0])


def fit_line(rows: list[int], values: list[float]) -> tuple[float, float]:
    """(c, d) of value = c + d x rows, least squares (nan with fewer than two sizes)."""
    if len(set(rows)) < 2:
        return math.nan, math.nan
    d, c = np.polyfit(np.asarray(rows, float), np.asarray(values, float), 1)
    return float(c), float(d)


def rule_costs(results: Path) -> dict[str, dict[str, float]]:
    """Per rule (grouped as workflow/resources.yaml groups them; embed, score and measure_map
    per reducer: `embed tsne`), over its jobs of one run: the longest wall (s) and the largest
    peak RSS (MB)."""
    from layermaps.measured import resource_rule
    from layermaps.paths import Paths
    from layermaps.tracking.worktime import latest_jobs

    out: dict[str, dict[str, float]] = {}
    for (rule, wildcards), rec in latest_jobs(Paths(results).state()).items():
        reducer = json.loads(wildcards).get("reducer")
        key = (
            f"{rule} {reducer}"
            if rule in ("embed", "score", "measure_map") and reducer
            else resource_rule(rule)
        )
        c = out.setdefault(key, {"wall": 0.0, "rss": 0.0})
        c["wall"] = max(c["wall"], rec["wall"])
        c["rss"] = max(c["rss"], rec.get("max_rss_mb") or 0.0)
    return out


def growth_table(costs: dict[int, dict[str, dict[str, float]]]) -> list[str]:
    """Markdown: per rule, the longest job's wall and peak RSS at each size, the wall's exponent
    b (wall ~ rows^b) over every size and between the two largest (start-up weighs less there:
    what a larger input's time request scales by), and the memory's MB per 10,000 rows (peak ~
    c + d x rows)."""
    sizes = sorted(costs)
    rules = sorted({r for c in costs.values() for r in c})
    head = " | ".join(f"{n:,} rows: s, MB" for n in sizes)
    lines = [
        f"| rule | {head} | wall ~ rows^b: b | b, two largest | peak MB per 10,000 rows |",
        "|---|" + "---|" * len(sizes) + "---|---|---|",
    ]
    for rule in rules:
        have = [n for n in sizes if rule in costs[n]]
        walls = [costs[n][rule]["wall"] for n in have]
        rss = [costs[n][rule]["rss"] for n in have]
        cells = [
            f"{costs[n][rule]['wall']:.1f}, {costs[n][rule]['rss']:,.0f}" if rule in costs[n] else "-"
            for n in sizes
        ]
        b, (_, d) = fit_power(have, walls), fit_line(have, rss)
        last = fit_power(have[-2:], walls[-2:])
        lines.append(
            f"| {rule} | {' | '.join(cells)} | "
            + " | ".join("-" if math.isnan(v) else f"{v:.2f}" for v in (b, last))
            + " | "
            + ("-" if math.isnan(d) else f"{d * 10_000:,.0f}")
            + " |"
        )
    return lines


def main(argv=None) -> None:
    from layermaps.data.cache import cached_datasets
    from layermaps.data.datasets import load_raw, save_npz

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    parser.add_argument("--out", type=Path, default=Path("results/growth"), help="one folder per size")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="layermaps checkout")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--reducers", nargs="+", default=list(REDUCERS))
    parser.add_argument("--epochs", type=int, help="the seed MLP's epochs (default: config.yaml's)")
    parser.add_argument(
        "--dry-run", action="store_true", help="write each size's data and config, plan its jobs, run none"
    )
    args = parser.parse_args(argv)
    if min(args.rows) < 100:
        sys.exit(f"bench_growth: --rows must be at least 100 each, got {args.rows}")
    project, out = args.project.resolve(), args.out.resolve()
    config = yaml.safe_load((project / "config.yaml").read_text())
    mnist = load_raw(
        cached_datasets(
            config["data"]["mirrors"], ["mnist"], env_mirror=os.environ.get("LAYERMAPS_DATA_MIRROR")
        )
        / "mnist"
    )
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    costs = {}
    for rows in sorted(set(args.rows)):
        folder = out / f"n{rows}"
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / "growth.npz"
        if not data.is_file():
            x, y = growth_images(mnist["train_images"], mnist["train_labels"], rows)
            save_npz(
                data,
                {"x_train": x, "y_train": y, "x_test": mnist["test_images"], "y_test": mnist["test_labels"]},
            )
        cfg = folder / "config.yaml"
        cfg.write_text(yaml.safe_dump(growth_config(config, data, "results", args.reducers, args.epochs)))
        print(f"[growth] {rows:,} rows: snakemake in {folder}", flush=True)
        cmd = [
            snakemake,
            "-s",
            str(project / "Snakefile"),
            "--cores",
            str(args.cores),
            "--configfile",
            str(cfg),
        ]
        proc = subprocess.run(
            cmd + (["-n"] if args.dry_run else []),
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if proc.returncode != 0:
            tail = proc.stdout[-3000:]
            sys.exit(f"bench_growth: the run of {rows:,} rows failed (exit {proc.returncode}):\n{tail}")
        if args.dry_run:
            print(proc.stdout[proc.stdout.rfind("Job stats:") :], flush=True)
            continue
        costs[rows] = rule_costs(folder / "results")
    if args.dry_run:
        return
    lines = [
        f"## Growth with the training rows ({args.cores} cores; MNIST repeated with noise, 10,000 test rows)",
        "",
        *growth_table(costs),
        "",
    ]
    (out / "growth.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
