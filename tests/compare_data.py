"""A small compare page whose every number is known: the known explorer's maps and datasets
(tests/explorer_data.py: class names holding markup, chosen votes and predictions), each source
given seeded test activations, compared by the real compare job. Used by
tests/test_browser_compare.py (what a person sees) and tests/test_compare.py (the records)."""

from __future__ import annotations

from pathlib import Path

import explorer_data as ed
import numpy as np

from layermaps.measures.compare import compare_job

K = 3  # neighbours compared per point (12 test points per dataset)


def activations(dataset: str, source: str) -> np.ndarray:
    seed = sum(map(ord, f"{dataset}|{source}"))
    return np.random.default_rng(seed).normal(size=(ed.N_TEST, 5))


def build(folder: Path) -> dict:
    """The inputs of compare_page_job: {study, datasets, prediction_paths}; and "records":
    {dataset: (record path, arrays path)}."""
    explorer = ed.build(folder)
    datasets, records = {}, {}
    for d, data_path in explorer["data_paths"].items():
        maps = [m for m in explorer["maps"] if m["dataset"] == d]
        test_paths = {}
        for m in maps:
            path = folder / f"{d}_{m['source'].replace('/', '_')}_test.npy"
            np.save(path, activations(d, m["source"]))
            test_paths[m["source"]] = path
        record, arrays = folder / f"compare_{d}.json", folder / f"compare_{d}.npz"
        compare_job(
            study="odd_names",
            dataset=d,
            maps=[{"source": m["source"], "reducer": m["reducer"]} for m in maps],
            k=K,
            vote_k=ed.K,
            test_paths=test_paths,
            embedding_paths=[m["embedding"] for m in maps],
            data_path=data_path,
            out_path=arrays,
            record_path=record,
            log=lambda _: None,
        )
        datasets[d] = (record, arrays, [m["embedding"] for m in maps], data_path)
        records[d] = (record, arrays)
    return {
        "study": "odd_names",
        "datasets": datasets,
        "prediction_paths": explorer["prediction_paths"],
        "records": records,
    }
