"""The compare job's records and the compare page's bytes, on the known data of
tests/compare_data.py: every per-point number checked against a brute-force computation."""

import json

import compare_data as cd
import explorer_data as ed
import numpy as np
import pytest
from scipy.spatial import procrustes as scipy_procrustes

from layermaps.embed.records import Embedding
from layermaps.figures.compare_page import compare_page_job
from layermaps.measures.compare import compared_map_pairs
from layermaps.measures.table import record_rows


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    return folder, cd.build(folder / "inputs")


def _nearest_sets(x, k):
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return [set(np.argsort(row, kind="stable")[:k]) for row in d]


def _untied(x, k):
    """The rows whose k-th and (k+1)-th nearest distances differ: their k nearest are one set
    (the known maps put points on a grid, where ties are common)."""
    d = np.sort(((x[:, None] - x[None]) ** 2).sum(-1), axis=1)[:, 1:]  # itself first
    return np.flatnonzero(d[:, k] - d[:, k - 1] > 1e-6)


def test_every_per_point_value_is_the_brute_force_one(known):
    _, built = known
    record_path, arrays_path = built["records"]["odd"]
    c = json.loads(record_path.read_text())["compare"]
    z = np.load(arrays_path)
    k, maps, sources = c["k"], c["maps"], c["sources"]
    assert k == cd.K and c["rows"] == ed.N_TEST and sources == ["raw", "net/hidden1", "net/hidden2"]
    src_sets = {s: _nearest_sets(cd.activations("odd", s), k) for s in sources}
    for s, nn in zip(sources, z["source_neighbours"]):
        assert [set(row) for row in nn] == src_sets[s]
    for (a, b), shared in zip([p["pair"] for p in c["source_pairs"]], z["source_shared"]):
        assert shared.tolist() == [len(x & y) for x, y in zip(src_sets[sources[a]], src_sets[sources[b]])]
    xy = [Embedding.load(path).test.astype(float) for path in built["datasets"]["odd"][2]]
    for i, m in enumerate(maps):
        map_sets, rows = _nearest_sets(xy[i], k), _untied(xy[i], k)
        assert len(rows) >= 4
        kept = [len(x & y) for x, y in zip(src_sets[m["source"]], map_sets)]
        assert z["map_kept"][i][rows].tolist() == [kept[r] for r in rows]
        assert z["votes"][i].tolist() == ed.votes("odd", m["source"], m["map"]).tolist()
    # map pairs: those sharing a source or a map, nothing else
    assert [tuple(p["pair"]) for p in c["map_pairs"]] == compared_map_pairs(
        [{"source": m["source"], "reducer": m["map"]} for m in maps]
    )
    assert (1, 2) in [tuple(p["pair"]) for p in c["map_pairs"]]  # hidden1: pca vs umap
    assert (0, 2) not in [tuple(p["pair"]) for p in c["map_pairs"]]  # raw pca vs hidden1 umap
    # each ordered pair's alignment puts the right map onto the left with scipy's disparity
    for a in range(len(maps)):
        for b in range(len(maps)):
            affine = z["affine"][a, b]
            aligned = np.hstack([xy[b], np.ones((ed.N_TEST, 1))]) @ affine
            expected = 0.0 if a == b else scipy_procrustes(xy[a], xy[b])[2]
            assert z["disparity"][a, b] == pytest.approx(expected, abs=1e-9)
            residual = np.sum((aligned - xy[a]) ** 2) / np.sum((xy[a] - xy[a].mean(0)) ** 2)
            assert residual == pytest.approx(expected, abs=1e-9)


def test_the_tidy_table_gets_each_pairs_mean_change(known):
    _, built = known
    record = json.loads(built["records"]["odd"][0].read_text())
    rows = {(r["source"], r["map"], r["measure"]): r for r in record_rows(record)}
    z = np.load(built["records"]["odd"][1])
    shared = z["source_shared"][0]  # raw vs net/hidden1
    jaccard = shared / (2 * cd.K - shared)
    assert float(rows[("raw vs net/hidden1", "", "neighbour_jaccard_k3")]["value"]) == pytest.approx(
        jaccard.mean()
    )
    assert ("net/hidden1", "pca vs umap", "procrustes_disparity") in rows
    assert "12 test rows" in rows[("raw vs net/hidden1", "", "neighbour_jaccard_k3")]["protocol"]


def test_the_page_is_the_same_bytes_for_the_same_inputs_and_holds_no_name_as_markup(known):
    folder, built = known
    inputs = {k: v for k, v in built.items() if k != "records"}
    first, second = folder / "a.html", folder / "b.html"
    compare_page_job(**inputs, out_path=first, log=lambda _: None)
    compare_page_job(**inputs, out_path=second, log=lambda _: None)
    html = first.read_text()
    assert html == second.read_text()
    for name in ed.ODD_CLASSES:
        assert name not in html  # every class name reaches the page as escaped JSON only
    assert "<script src=" not in html and "https://" not in html.split("Bokeh")[0]


def test_regrouped_classes_agree_with_brute_force_neighbours(known):
    """`python -m layermaps.measures.regrouped`'s per-class rows from the known data's own
    neighbour sets: Jaccard, points keeping none, the lowest decile and same-class shares."""
    from layermaps.measures.regrouped import markdown, regrouped

    _, built = known
    record_path, arrays_path = built["records"]["odd"]
    record = json.loads(record_path.read_text())
    c = record["compare"]
    with np.load(built["datasets"]["odd"][3]) as d:
        y = d["test_labels"]
    pairs = regrouped(record, dict(np.load(arrays_path)), y)
    sets = {s: _nearest_sets(cd.activations("odd", s), cd.K) for s in c["sources"]}
    assert [(p["from"], p["to"]) for p in pairs] == [
        (c["sources"][a], c["sources"][b]) for a, b in (q["pair"] for q in c["source_pairs"])
    ]
    for p in pairs:
        shared = np.array([len(x & z) for x, z in zip(sets[p["from"]], sets[p["to"]])])
        j = shared / (2 * cd.K - shared)
        low = j <= np.quantile(j, 0.1)
        assert p["jaccard"] == pytest.approx(j.mean(), abs=1e-12)
        assert p["none_shared"] == pytest.approx(np.mean(shared == 0), abs=1e-12)
        assert p["lowest_decile_points"] == low.sum() >= 0.1 * len(y)
        assert sum(r["points"] for r in p["classes"]) == len(y)
        assert [r["jaccard"] for r in p["classes"]] == sorted(r["jaccard"] for r in p["classes"])
        for r in p["classes"]:
            m = y == c["classes"].index(r["class"])
            assert r["jaccard"] == pytest.approx(j[m].mean(), abs=1e-12)
            assert r["none_shared"] == pytest.approx(np.mean(shared[m] == 0), abs=1e-12)
            assert r["lowest_decile"] == pytest.approx(low[m].mean(), abs=1e-12)
            for side, key in ((p["from"], "same_class_from"), (p["to"], "same_class_to")):
                share = np.mean([np.mean(y[list(sets[side][i])] == y[i]) for i in np.flatnonzero(m)])
                assert r[key] == pytest.approx(share, abs=1e-12)
        table = markdown("odd", p)
        assert table.count("\n|") == 2 + len(p["classes"])  # header, rule, a row per class


def test_regrouped_without_compare_records_says_what_to_make(tmp_path, capsys):
    from layermaps.measures.regrouped import main

    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path), "hidden_layers"])
    assert "no compare records for study 'hidden_layers'" in str(stop.value)
    assert f"{tmp_path}/studies/hidden_layers/compare_<dataset>.json" in str(stop.value)
