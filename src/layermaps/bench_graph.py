"""`python -m layermaps.bench_graph RESULTS/DATASET SOURCE`: the shared neighbour graph on one
source of a finished run, against each reducer's own search.

Builds the source's exact graph, then embeds it with each reducer that reads one, with the
graph and with the library's own search (one thread, the workflow's seed), and prints a
Markdown table of seconds and kNN accuracies (scored as the score jobs score). Timings, so
never part of the tests; a full-size source takes tens of minutes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from layermaps.tracking.jobs import set_thread_env

KS = (3, 5, 10)


def main(argv=None) -> None:
    set_thread_env(1)  # before numpy loads: one thread everywhere, as the embed jobs run
    from layermaps.embed.neighbors import build_graph, graph_sizes
    from layermaps.embed.reducers import REDUCERS, embed, reducer_class
    from layermaps.embed.scoring import knn_accuracy
    from layermaps.embed.stage import load_source

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset_dir", type=Path, help="a finished run's dataset folder, e.g. results/mnist")
    parser.add_argument("source", help="raw or MODEL/LAYER, e.g. seed_mlp/hidden2")
    parser.add_argument(
        "--reducers", nargs="+", default=[n for n, r in REDUCERS.items() if r.graph_needs({}) is not None]
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    base = args.dataset_dir / "activations" / args.source
    if not Path(f"{base}_train.npy").is_file():
        raise SystemExit(
            f"bench_graph: no activations of {args.source} under "
            f"{args.dataset_dir}/activations: give a finished run's dataset folder "
            "and a source it embedded (raw or MODEL/LAYER)"
        )
    x, y, xt, yt = load_source(f"{base}_train.npy", f"{base}_test.npy", args.dataset_dir / "data.npz")
    k_train, k_test = graph_sizes({name: reducer_class(name, {}) for name in args.reducers})
    graph = build_graph(x, xt, k_train=k_train, k_test=k_test, log=lambda message: None)
    lines = [
        f"## {args.dataset_dir.name} {args.source}: {x.shape[0]} x {x.shape[1]} fit rows, "
        f"{len(xt)} test rows; exact graph ({k_train} + {k_test} neighbours) "
        f"{graph.seconds:.1f} s",
        "",
        "| reducer | neighbours | seconds | " + " | ".join(f"k={k}" for k in KS) + " |",
        "|---|---|---|" + "---|" * len(KS),
    ]
    print("\n".join(lines), flush=True)
    for name in args.reducers:
        for label, g in (("shared graph", graph), ("own search", None)):
            t0 = time.perf_counter()
            e = embed(name, x, xt, seed=args.seed, graph=g)
            seconds = time.perf_counter() - t0
            acc = knn_accuracy(e.train, y, e.test, yt, ks=KS)
            line = (
                f"| {name} | {label} | {seconds:.1f} | "
                + " | ".join(f"{acc[f'k{k}']['accuracy']:.4f}" for k in KS)
                + " |"
            )
            print(line, flush=True)


if __name__ == "__main__":
    main()
