"""`make bench`: run the quick config from scratch and report where the time went.

Prints (and writes to <results>/bench.md) the efficiency table of that run (per rule: jobs,
median wall and overhead seconds, work; in total: work / (wall x cores), the Snakemake
process's CPU share), the time of `snakemake --version`, of a no-op dry run of the finished
quick run and of a dry run of the full default DAG. Timings, so never part of the tests.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from layermaps.measured import efficiency_section

QUICK = ["--configfile", "config.yaml", "workflow/configs/quick.yaml"]


def timed(cmd: list[str], cwd: Path, *, check: bool = True) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - t0
    if check and proc.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}")
    return seconds


def median_of(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, list[float]]:
    times = [timed(cmd, cwd) for _ in range(repeat)]
    return statistics.median(times), times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="layermaps checkout")
    parser.add_argument(
        "--results",
        default="results/bench",
        help="results folder of the run (relative to the project; deleted first)",
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each dry run")
    parser.add_argument("--skip-run", action="store_true", help="report on the existing run")
    parser.add_argument("snakemake_args", nargs="*", help="more snakemake arguments, after --")
    args = parser.parse_args(argv)
    project = args.project.resolve()
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    results = project / args.results
    run = [snakemake, "--cores", str(args.cores), *QUICK, "--config", f"results_dir={args.results}"]
    lines = [
        f"## make bench: quick config, {args.cores} cores "
        f"({' '.join(args.snakemake_args) or 'default settings'})",
        "",
    ]
    if not args.skip_run:
        shutil.rmtree(results, ignore_errors=True)
        print(f"bench: running the quick config from scratch in {results} ...", flush=True)
        wall = timed(run + list(args.snakemake_args), project)
        lines += [f"quick run from scratch: {wall:.0f} s wall", ""]
    lines += efficiency_section(results)
    version, _ = median_of([snakemake, "--version"], project, args.repeat)
    noop, noops = median_of(run + ["--dry-run", "--quiet"], project, args.repeat)
    with tempfile.TemporaryDirectory(prefix="bench-dag-") as empty:
        full, fulls = median_of(
            [
                snakemake,
                "--cores",
                str(args.cores),
                "--dry-run",
                "--quiet",
                "--config",
                f"results_dir={empty}",
            ],
            project,
            args.repeat,
        )
    fmt = lambda ts: ", ".join(f"{t:.2f}" for t in ts)  # noqa: E731
    lines += [
        f"| command | median s (of {args.repeat}) | each s |",
        "|---|---|---|",
        f"| `snakemake --version` | {version:.2f} | |",
        f"| no-op `snakemake -n` of the finished quick run | {noop:.2f} | {fmt(noops)} |",
        f"| `snakemake -n` of the full default DAG, nothing built | {full:.2f} | {fmt(fulls)} |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if results.is_dir():
        (results / "bench.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
