"""What a (possibly partial) run measured, as Markdown: `python -m layermaps.measured results`.

Reads whatever score, metrics and Snakemake benchmark files exist under a results folder, so
the numbers quoted in notes and the README come from one command anyone can rerun. (The
`report_summary` rule writes summary.md for a complete run; this also reports costs.)
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import yaml

from layermaps.figures_stage import sweep_plan
from layermaps.modelspec import all_models
from layermaps.summary_report import knn_section, model_section, sweep_section


def benchmark(path: Path) -> dict | None:
    """Seconds and peak resident memory (MB) of one job from its benchmark: file."""
    if not path.is_file():
        return None
    with open(path) as f:
        row = list(csv.DictReader(f, delimiter="\t"))[-1]
    return {"s": float(row["s"]), "max_rss": float(row["max_rss"])}


def cost_section(results: Path, dataset: str, scores: list[dict]) -> list[str]:
    rows = []
    for s in sorted(scores, key=lambda s: (s["source"], s["reducer"])):
        if s["reducer"] == "unreduced":
            continue
        b = benchmark(results / "benchmarks" / dataset / "embed" / s["source"] / f"{s['reducer']}.tsv")
        rows.append(f"| {s['source']} | {s['reducer']} | {s['policy']} | {s['protocol']} | "
                    f"{s['fit_seconds']:.1f} | {s['transform_seconds']:.1f} | "
                    + (f"{b['s']:.0f} | {b['max_rss']:.0f} |" if b else "- | - |"))
    head = ["| source | reducer | policy | protocol | fit s | transform s | job s | peak MB |",
            "|---|---|---|---|---|---|---|---|"]
    return [f"### embedding cost, {dataset}", "", *head, *rows, ""] if rows else []


def job_cost_section(results: Path, dataset: str, models: list[str]) -> list[str]:
    rows = []
    for m in models:
        t = benchmark(results / "benchmarks" / dataset / "train" / f"{m}.tsv")
        a = benchmark(results / "benchmarks" / dataset / "activations" / f"{m}.tsv")
        metrics = results / dataset / "models" / m / "metrics.json"
        if t is None or not metrics.is_file():
            continue
        spe = json.loads(metrics.read_text())["seconds_per_epoch"]
        rows.append(f"| {m} | {spe:.2f} | {t['s']:.0f} | {t['max_rss']:.0f} | "
                    + (f"{a['s']:.0f} | {a['max_rss']:.0f} |" if a else "- | - |"))
    head = ["| model | s / epoch | train job s | train peak MB | activations job s | activations peak MB |",
            "|---|---|---|---|---|---|"]
    return [f"### training cost, {dataset}", "", *head, *rows, ""] if rows else []


def report(results: Path, config: dict) -> str:
    models = all_models(config["models"], config.get("sweeps"))
    ks = sorted(config["knn"]["k"])
    lines = []
    for dataset in config["datasets"]:
        scores = [json.loads(p.read_text()) for p in sorted((results / dataset / "scores").rglob("*.json"))]
        metrics = {m: json.loads((results / dataset / "models" / m / "metrics.json").read_text())
                   for m in models if (results / dataset / "models" / m / "metrics.json").is_file()}
        sources = sorted({s["source"] for s in scores}, key=lambda s: (s != "raw", s))
        lines += model_section(dataset, metrics, {m: models[m]["hidden"] for m in models})
        lines += job_cost_section(results, dataset, list(metrics))
        if scores:
            lines += knn_section(dataset, scores, ks, sources, list(config["reducers"]))
            lines += cost_section(results, dataset, scores)
        for name, sweep in (config.get("sweeps") or {}).items():
            plan = sweep_plan(name, sweep)
            if any(m["model"] in metrics for m in plan["members"]):
                lines += sweep_section(dataset, name, plan, metrics, scores, list(config["reducers"]), 5)
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results folder of a run")
    parser.add_argument("--config", type=Path, default=Path("config.yaml"))
    args = parser.parse_args(argv)
    print(report(args.results, yaml.safe_load(args.config.read_text())))


if __name__ == "__main__":
    main()
