"""results/measures.csv: every measure of every record, one tidy row each (dataset, source or
pair of sources, map, measure, value, protocol). Read it with pandas:

    import pandas as pd
    m = pd.read_csv("results/measures.csv")
    m[m.measure == "probe_accuracy"].pivot(index="source", columns="dataset", values="value")
"""

from __future__ import annotations

import csv
import json

from layermaps.atomic import atomic_path
from layermaps.paths import Source

COLUMNS = ["dataset", "source", "map", "measure", "value", "protocol"]
PAIR = " vs "  # a pair of sources in the `source` column


def _value(v) -> str:
    return "" if v is None else repr(float(v))


def record_rows(record: dict) -> list[dict]:
    """The tidy rows of one measures record (layermaps.measures.stage)."""
    d = record["dataset"]
    settings = record.get("settings", {})

    def row(source, measure, value, protocol, map_=""):
        return {
            "dataset": d,
            "source": source,
            "map": map_,
            "measure": measure,
            "value": _value(value),
            "protocol": protocol,
        }

    if "compare" in record:
        return _compare_rows(record["compare"], f"study {record['study']}", row)
    if "study" in record:
        rows, protocol = [], f"{record['rows']} test rows, study {record['study']}"
        for model, by in record["seeds"].items():
            for layer, kinds in by.items():
                source = str(Source(model, layer))
                for kind, s in kinds.items():
                    seeds = f"{protocol}, {s['pairs']} pairs of seeds"
                    rows += [
                        row(source, f"{kind}_seeds_{stat}", s[stat], seeds)
                        for stat in ("mean", "sd", "min", "max")
                    ]
        for layer, entry in record["across"].items():
            models = entry["models"]
            rows += [
                row(f"{Source(a, layer)}{PAIR}{Source(b, layer)}", kind, entry[kind][i][j], protocol)
                for i, a in enumerate(models)
                for j, b in enumerate(models)
                if i < j
                for kind in ("cka", "cka_debiased")
            ]
        for model, by in record["snapshots"].items():
            for layer, per in by.items():
                rows += [
                    row(
                        f"{Source(model, layer, int(e))}{PAIR}{Source(model, layer)}", kind, v[kind], protocol
                    )
                    for e, v in per.items()
                    for kind in ("cka", "cka_debiased")
                ]
        return rows
    if "probe" in record:
        p, i, s = record["probe"], record["intrinsic_dimension"], record["source"]
        probe = (
            f"logistic regression C=1 on {p['fit_rows']} stratified fit rows (seed {settings.get('seed')}), "
            f"{p['test_rows']} test rows"
            + ("" if p["converged"] else f", NOT converged in {p['max_iter']} iterations")
        )
        ident = (
            f"{i['rows']} fit rows (seed {settings.get('seed')}), {i['duplicates']} duplicates left out"
            + (f"; {i['note']}" if i.get("note") else "")
        )
        rows = [
            row(s, "probe_accuracy", p["accuracy"], probe),
            row(s, "probe_converged", float(p["converged"]), probe),
        ]
        rows += [row(s, f"probe_accuracy_class{c}", v, probe) for c, v in p["per_class"].items()]
        rows += [row(s, "id_twonn", i["twonn"], ident), row(s, f"id_mle_k{i['k']}", i["mle"], ident)]
        return rows + [row(s, "id_duplicate_rows", i["duplicates"], ident)]
    if "values" in record:
        protocol = f"first {record['rows']} fit rows" + (
            f", triplets seeded {settings['seed']}" if "seed" in settings else ""
        )
        return [row(record["source"], m, v, protocol, record["map"]) for m, v in record["values"].items()]
    if "cka" in record:
        names, protocol = record["sources"], f"{record['rows']} test rows"
        return [
            row(f"{a}{PAIR}{b}", measure, record[key][i][j], protocol)
            for i, a in enumerate(names)
            for j, b in enumerate(names)
            if i < j
            for measure, key in (("cka", "cka"), ("cka_debiased", "cka_debiased"))
        ]
    raise ValueError(f"not a measures record: keys {sorted(record)}")


def _compare_rows(c: dict, study: str, row) -> list[dict]:
    """A compare record's rows: per pair of sources and per compared pair of maps, the mean
    Jaccard of the test points' k nearest test neighbours and the share that keep none; per
    pair of maps the Procrustes disparity too (the per-point values: the record's .npz)."""
    k, sources, maps = c["k"], c["sources"], c["maps"]
    protocol = f"{c['rows']} test rows, {k} nearest test neighbours, {study}"
    rows = []
    for p in c["source_pairs"]:
        pair = PAIR.join(sources[i] for i in p["pair"])
        rows += [
            row(pair, f"neighbour_jaccard_k{k}", p["jaccard_mean"], protocol),
            row(pair, f"neighbours_none_shared_k{k}", p["none_shared"], protocol),
        ]
    for p in c["map_pairs"]:
        a, b = (maps[i] for i in p["pair"])
        source = a["source"] if a["source"] == b["source"] else f"{a['source']}{PAIR}{b['source']}"
        map_ = a["map"] if a["map"] == b["map"] else f"{a['map']}{PAIR}{b['map']}"
        rows += [
            row(source, f"map_neighbour_jaccard_k{k}", p["jaccard_mean"], protocol, map_),
            row(source, f"map_neighbours_none_shared_k{k}", p["none_shared"], protocol, map_),
            row(source, "procrustes_disparity", p["disparity"], protocol, map_),
        ]
    return rows


def table_job(*, record_paths, out_path, log=print) -> int:
    rows = []
    for path in record_paths:
        with open(path) as f:
            rows += record_rows(json.load(f))
    with atomic_path(out_path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    log(f"[measures] {len(rows)} rows from {len(record_paths)} records: {out_path}")
    return len(rows)
