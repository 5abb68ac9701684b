"""Which classes a layer regroups, read back from a study's compare job (its .json and .npz):
for every pair of the study's sources, per class, the mean Jaccard of its test points' k nearest
test neighbours in the two sources, the share of its points that keep none, the share that fall
in the pair's lowest Jaccard decile, and the share of same-class neighbours in each source.

    python -m layermaps.measures.regrouped results hidden_layers [--dataset mnist]

prints one Markdown table per dataset and source pair, classes from most to least regrouped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from layermaps.measures.pointwise import jaccard


def regrouped(record: dict, arrays: dict, y_test: np.ndarray) -> list[dict]:
    """One entry per source pair of a compare record: its means and a row per class (sorted by
    mean Jaccard, lowest first). The means and each class's mean Jaccard are the record's (the
    compare job's pair summary); the rest is added here from its per-point arrays. Ties at the
    decile's bound count in it, so "lowest decile" can hold more than a tenth of the points
    (say, when a tenth keep no neighbour)."""
    c = record["compare"]
    k, classes, sources = c["k"], c["classes"], c["sources"]
    y = np.asarray(y_test)
    nn = arrays["source_neighbours"]
    same = [(y[nn[i]] == y[:, None]).mean(1) for i in range(len(sources))]
    out = []
    for pair, shared in zip(c["source_pairs"], arrays["source_shared"]):
        a, b = pair["pair"]
        j = jaccard(shared, k)
        bound = float(np.quantile(j, 0.1))
        low = j <= bound
        rows = [
            {
                "class": classes[cls],
                "points": int(m.sum()),
                "jaccard": pair["jaccard_by_class"][classes[cls]],
                "none_shared": float(np.mean(shared[m] == 0)),
                "lowest_decile": float(low[m].mean()),
                "same_class_from": float(same[a][m].mean()),
                "same_class_to": float(same[b][m].mean()),
            }
            for cls in range(len(classes))
            if (m := y == cls).any()
        ]
        out.append(
            {
                "from": sources[a],
                "to": sources[b],
                "k": k,
                "jaccard": pair["jaccard_mean"],
                "none_shared": pair["none_shared"],
                "decile_bound": bound,
                "lowest_decile_points": int(low.sum()),
                "same_class_from": float(same[a].mean()),
                "same_class_to": float(same[b].mean()),
                "classes": sorted(rows, key=lambda r: r["jaccard"]),
            }
        )
    return out


def _cell(text: str) -> str:
    """A class name in a Markdown table cell: its '|' escaped (a dataset's names can hold any string)."""
    return text.replace("|", "\\|")


def markdown(dataset: str, pair: dict) -> str:
    head = (
        f"**{dataset}: {pair['from']} -> {pair['to']}** (k = {pair['k']}): mean Jaccard "
        f"{pair['jaccard']:.3f}, {pair['none_shared']:.1%} of the points keep no neighbour; lowest "
        f"decile: Jaccard <= {pair['decile_bound']:.3f}, {pair['lowest_decile_points']} points; "
        f"same-class neighbours {pair['same_class_from']:.3f} -> {pair['same_class_to']:.3f}\n\n"
        "| class | points | mean Jaccard | keep none | in the lowest decile | same-class neighbours |\n"
        "|---|---|---|---|---|---|\n"
    )
    rows = "".join(
        f"| {_cell(r['class'])} | {r['points']} | {r['jaccard']:.3f} | {r['none_shared']:.1%} | "
        f"{r['lowest_decile']:.1%} | {r['same_class_from']:.3f} -> {r['same_class_to']:.3f} |\n"
        for r in pair["classes"]
    )
    return head + rows


def main(argv=None) -> None:
    from layermaps.measures.compare import read_compare
    from layermaps.paths import Paths

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a results folder (results_dir)")
    parser.add_argument("study", help="a study of that run's config (say, hidden_layers)")
    parser.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    args = parser.parse_args(argv)
    paths = Paths(args.results)
    found = sorted(Path(paths.study_file(args.study, "")).glob("compare_*.json"))
    datasets = [p.stem.removeprefix("compare_") for p in found]
    if args.dataset:
        datasets = [d for d in datasets if d in args.dataset]
    if not datasets:
        which = f" and dataset {', '.join(args.dataset)}" if args.dataset else ""
        sys.exit(
            f"no compare records for study {args.study!r}{which} "
            f"under {args.results}/studies/{args.study}/: make them with "
            f"`snakemake --cores 2 {paths.compare_points(args.study, '<dataset>', '.json')}`"
        )
    for d in datasets:
        record, arrays = read_compare(
            paths.compare_points(args.study, d, ".json"), paths.compare_points(args.study, d)
        )
        with np.load(paths.data(d), allow_pickle=False) as data:
            y_test = data["test_labels"]
        for pair in regrouped(record, arrays, y_test):
            print(markdown(d, pair))


if __name__ == "__main__":
    main()
