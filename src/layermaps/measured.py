"""What a (possibly partial) run measured, as Markdown: `python -m layermaps.measured results`.

Reads whatever score, metrics and job timing records exist under a results
folder, so the numbers quoted in notes and the README come from one command anyone can rerun.
(The `report_summary` rule writes summary.md for a complete run; this also reports costs.)
`--efficiency` prints only where the time of the latest workflow invocation went (`--invocation ID`: an
earlier one's);
`--against OTHER` prints how every map's kNN accuracy differs from the same map in another run.
`--studies NAME ...` prints what each study's jobs cost in this run: the jobs a `snakemake -n
--forceall NAME` plans with the current config, matched to this run's job records.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from layermaps.embed.records import Score
from layermaps.embed.subsets import ordered_maps
from layermaps.figures.summary import knn_section, model_section, sweep_section
from layermaps.models.spec import all_models
from layermaps.paths import Paths
from layermaps.planning import sweep_plan
from layermaps.studies import split_model_datasets
from layermaps.tracking.worktime import efficiency, latest_jobs, read_invocation


def job_cost(jobs: dict, rule: str, **wildcards) -> dict | None:
    """Seconds and peak resident memory (MB) of a job's latest run (layermaps.tracking.worktime)."""
    record = jobs.get((rule, json.dumps(wildcards, sort_keys=True)))
    return {"s": record["wall"], "max_rss": record["max_rss_mb"]} if record else None


def cost_section(jobs: dict, dataset: str, scores: list[Score]) -> list[str]:
    rows = []
    for s in sorted(scores, key=lambda s: s.key):
        if s.reducer == "unreduced":
            continue
        b = job_cost(jobs, "embed", dataset=dataset, source=s.source, reducer=s.reducer)
        rows.append(
            f"| {s.source} | {s.reducer} | {s.policy} | {s.protocol} | "
            f"{s.fit_seconds:.1f} | {s.transform_seconds:.1f} | "
            + (f"{b['s']:.0f} | {b['max_rss']:.0f} |" if b else "- | - |")
        )
    head = [
        "| source | reducer | policy | protocol | fit s | transform s | job s | peak MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return [f"### embedding cost, {dataset}", "", *head, *rows, ""] if rows else []


def job_cost_section(results: Path, jobs: dict, dataset: str, models: list[str]) -> list[str]:
    rows = []
    for m in models:
        t = job_cost(jobs, "train", dataset=dataset, model=m)
        a = job_cost(jobs, f"activations_{m}", dataset=dataset)
        metrics = Path(Paths(results).metrics(dataset, m))
        if t is None or not metrics.is_file():
            continue
        spe = json.loads(metrics.read_text())["seconds_per_epoch"]
        rows.append(
            f"| {m} | {spe:.2f} | {t['s']:.0f} | {t['max_rss']:.0f} | "
            + (f"{a['s']:.0f} | {a['max_rss']:.0f} |" if a else "- | - |")
        )
    head = [
        "| model | s / epoch | train job s | train peak MB | activations job s | activations peak MB |",
        "|---|---|---|---|---|---|",
    ]
    return [f"### training cost, {dataset}", "", *head, *rows, ""] if rows else []


def efficiency_section(results: Path, invocation: str | None = None) -> list[str]:
    """Work seconds against wall time, per rule and in total, of one workflow invocation."""
    try:
        inv, jobs = read_invocation(Paths(results).state(), invocation)
    except FileNotFoundError:
        if invocation:  # a named one that is not there: say so (the caller stops)
            raise
        return []
    e = efficiency(inv, jobs)
    rows = [
        f"| {name} | {r['jobs']} | {r['median_wall_s']:.1f} | {r['median_overhead_s']:.1f} | "
        f"{r['work_core_s']:.0f} | {r['wall_core_s']:.0f} | {r['efficiency']:.2f} |"
        for name, r in e["rules"].items()
    ]
    return [
        f"### efficiency, invocation {inv['invocation'][:8]} ({inv['status']})",
        "",
        f"{e['jobs']} jobs in {e['wall_s']:.0f} s on {e['cores']} cores: work "
        f"{e['work_core_s']:.0f} core-s of {e['wall_s'] * e['cores']:.0f} "
        f"(jobs ran {e['job_core_s']:.0f} core-s): **efficiency {e['efficiency']:.2f}**; "
        f"the Snakemake process used {e['snakemake_cpu_s']:.1f} s of CPU, "
        f"{100 * e['snakemake_core_share']:.1f} % of one core; its child processes used "
        f"{e['helpers_cpu_s']:.1f} s of CPU outside the job records (job shells, "
        f"interpreter shutdown after a job's record, a scheduler's solver).",
        "",
        "| rule | jobs | median wall s | median overhead s | work core-s | job core-s | efficiency |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def read_scores(results: Path) -> dict[tuple[str, str, str], Score]:
    """Every score record under a results folder, by (dataset, source, reducer)."""
    return {(s.dataset, *s.key): s for s in map(Score.load, Paths(results).all_scores())}


def comparison_section(results: Path, other: Path, tolerance: float) -> list[str]:
    """kNN accuracy of every map that both runs scored, this run against the other one."""
    mine, theirs = read_scores(results), read_scores(other)
    shared = sorted(set(mine) & set(theirs), key=lambda key: (key[0], key[1] != "raw", key[1], key[2]))
    if not shared:
        return [f"no map was scored in both {results} and {other}"]
    ks = sorted({k for key in shared for k in mine[key].ks} & {k for key in shared for k in theirs[key].ks})
    rows, moved, largest = [], 0, 0.0
    for key in shared:
        cells = []
        for k in ks:
            a, b = mine[key].accuracy(k), theirs[key].accuracy(k)
            delta = a - b
            largest = max(largest, abs(delta))
            flag = abs(delta) > tolerance
            moved += flag
            cells.append(f"{b:.4f} → {a:.4f} ({delta:+.4f}){' **!**' if flag else ''}")
        rows.append(f"| {' | '.join(key)} | {' | '.join(cells)} |")
    return [
        f"### kNN accuracy: {other} → {results}",
        "",
        f"{len(shared)} maps scored in both runs; {moved} of {len(shared) * len(ks)} accuracies "
        f"moved by more than {tolerance} (marked **!**); the largest move is {largest:.4f}.",
        "",
        "| dataset | source | reducer | " + " | ".join(f"{k}-NN" for k in ks) + " |",
        "|---|---|---|" + "---|" * len(ks),
        *rows,
        "",
    ]


def planned_jobs(target: str, config: Path) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job of `target` when nothing exists yet (a forced dry run
    of the Snakefile beside this package, into an empty folder)."""
    snakefile = Path(__file__).resolve().parents[2] / "Snakefile"
    snakemake = Path(sys.executable).parent / "snakemake"
    with tempfile.TemporaryDirectory() as empty:
        out = subprocess.run(
            [
                str(snakemake),
                "-s",
                str(snakefile),
                "--configfile",
                str(config),
                "-n",
                "-F",
                target,
                "--config",
                f"results_dir={empty}",
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=config.parent,
        ).stdout
    jobs = []
    for rule, fields in dry_run_jobs(out):
        pairs = fields["wildcards"].split(", ") if "wildcards" in fields else []
        jobs.append((rule, dict(p.split("=", 1) for p in pairs)))
    return jobs


def dry_run_jobs(text: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, {field: value}) of every job a `snakemake -n` printed (its "    wildcards: ..."
    and other indented lines under each "rule name:")."""
    return [
        (m.group(1), dict(re.findall(r"^    (\w+): (.*)$", m.group(2), re.M)))
        for m in re.finditer(r"^(?:local)?rule (\S+):\n((?:    .*\n)*)", text, re.M)
    ]


def study_cost_section(results: Path, studies: list[str], config: Path, cores: int = 2) -> list[str]:
    """Per study: its jobs, those this run has records of, and their core-seconds (wall x
    threads); the wall on `cores` cores if they were always busy is core-seconds / cores."""
    jobs = latest_jobs(Paths(results).state())
    rows = []
    for study in studies:
        planned = [(r, w) for r, w in planned_jobs(study, config) if r != study]
        found = [jobs.get((r, json.dumps(w, sort_keys=True))) for r, w in planned]
        core_s = sum(rec["wall"] * rec["threads"] for rec in found if rec)
        rows.append(
            f"| {study} | {len(planned)} | {sum(1 for rec in found if rec)} | {core_s:,.0f} | "
            f"{core_s / cores / 60:.1f} |"
        )
    return [
        f"### What each study's jobs cost in {results}",
        "",
        f"| study | jobs | with a record here | job core-s | min on {cores} cores, always busy |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]


def resource_rule(rule: str) -> str:
    """The entry of workflow/resources.yaml a rule's jobs ask for (one rule per model of the
    training and activation rules; every other figure and summary rule: `plot`)."""
    if rule.startswith("train"):
        return "train"
    if rule.startswith(("activations_", "snapshot_activations_")):
        return "activations"
    return rule


def resources_section(results: Path) -> list[str]:
    """Per rule: its jobs' largest peak memory and longest wall time in this run's records
    (what workflow/resources.yaml is set from)."""
    worst: dict[str, list] = {}
    for (rule, _), rec in latest_jobs(Paths(results).state()).items():
        w = worst.setdefault(resource_rule(rule), [0, 0.0, 0.0])
        w[0] += 1
        w[1] = max(w[1], rec.get("max_rss_mb") or 0.0)
        w[2] = max(w[2], rec["wall"])
    rows = [f"| {rule} | {n} | {rss:,.0f} | {wall:.1f} |" for rule, (n, rss, wall) in sorted(worst.items())]
    return [
        f"### Peak memory and wall time per rule in {results}",
        "",
        "| rule | jobs | largest peak RSS (MB) | longest wall (s) |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def report(results: Path, config: dict) -> str:
    plain, sweeps, _ = split_model_datasets(config["models"], config.get("sweeps"))
    models = all_models(plain, sweeps)
    ks = sorted(config["knn"]["k"])
    lines = efficiency_section(results)
    at = Paths(results)
    jobs = latest_jobs(at.state())
    for dataset in config["datasets"]:
        scores = [s for key, s in sorted(read_scores(results).items()) if key[0] == dataset]
        metrics = {
            m: json.loads(Path(at.metrics(dataset, m)).read_text())
            for m in models
            if Path(at.metrics(dataset, m)).is_file()
        }
        scored = {s.key for s in scores}
        maps = ordered_maps({r for _, r in scored if r != "unreduced"}, list(config["reducers"]))
        sources = {
            src: [r for r in maps if (src, r) in scored]
            for src in sorted({s.source for s in scores}, key=lambda s: (s != "raw", s))
        }
        lines += model_section(dataset, metrics, {m: models[m]["hidden"] for m in models})
        lines += job_cost_section(results, jobs, dataset, list(metrics))
        if scores:
            lines += knn_section(dataset, scores, ks, sources)
            lines += cost_section(jobs, dataset, scores)
        for name, sweep in sweeps.items():
            plan = sweep_plan(name, sweep)
            if any(m["model"] in metrics for m in plan["members"]):
                lines += sweep_section(dataset, name, plan, metrics, scores, maps, 5)
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results folder of a run")
    parser.add_argument("--config", type=Path, default=Path("config.yaml"))
    parser.add_argument(
        "--efficiency", action="store_true", help="only the efficiency table of the latest invocation"
    )
    parser.add_argument(
        "--invocation", metavar="ID", help="with --efficiency: this invocation's (its id or the start of it)"
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="OTHER",
        help="only the kNN accuracy of every map scored here and in OTHER, side by side",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.005,
        help="with --against: mark accuracies that moved by more than this",
    )
    parser.add_argument(
        "--resources", action="store_true", help="only each rule's largest peak memory and longest wall time"
    )
    parser.add_argument(
        "--studies",
        nargs="+",
        metavar="NAME",
        help="only the cost of each named study's jobs in this run (--config's studies)",
    )
    parser.add_argument("--cores", type=int, default=2, help="with --studies: cores to divide by")
    args = parser.parse_args(argv)
    if args.resources:
        print("\n".join(resources_section(args.results)))
        return
    if args.studies:
        print("\n".join(study_cost_section(args.results, args.studies, args.config.resolve(), args.cores)))
    elif args.against:
        print("\n".join(comparison_section(args.results, args.against, args.tolerance)))
    elif args.efficiency:
        try:
            lines = efficiency_section(args.results, args.invocation)
        except FileNotFoundError as err:
            sys.exit(f"measured: {err}")
        print("\n".join(lines) or f"no timing records under {args.results}")
    else:
        print(report(args.results, yaml.safe_load(args.config.read_text())))


if __name__ == "__main__":
    main()
